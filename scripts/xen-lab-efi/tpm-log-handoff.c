/*
 * tpm-log-handoff.efi — the xen-lab's first boot stage (OVMF runs it as \EFI\BOOT\BOOTX64.EFI).
 *
 * Linux finds the firmware's TCG2 event log only in a configuration table that its own EFI stub installs
 * (LINUX_EFI_TPM_EVENT_LOG) before ExitBootServices. A Xen dom0 is not started through that stub, so it
 * would see no /sys/kernel/security/tpm0/binary_bios_measurements. This stage does what the stub does:
 * asks EFI_TCG2_PROTOCOL for the crypto-agile log, copies it into ACPI-reclaim memory (which Xen leaves
 * alone), installs the table, and then starts GRUB (\EFI\BOOT\grubx64.efi). Every event logged after the
 * copy (GRUB's, in PCRs 8 and 9) lands in the firmware's final-events table, which Linux appends.
 *
 * Table layout (Linux include/linux/efi.h, struct linux_efi_tpm_eventlog):
 *   u32 size; u32 final_events_preboot_size; u8 version; u8 log[size];
 */
#include <efi.h>
#include <efilib.h>

#define TCG2_FORMAT_CRYPTO_AGILE 0x00000002

typedef struct tcg2_protocol tcg2_protocol;
struct tcg2_protocol {
    EFI_STATUS (EFIAPI *get_capability)(tcg2_protocol *, void *);
    EFI_STATUS (EFIAPI *get_event_log)(tcg2_protocol *, UINT32 format, EFI_PHYSICAL_ADDRESS *first,
                                       EFI_PHYSICAL_ADDRESS *last, BOOLEAN *truncated);
};

static EFI_GUID tcg2_guid = {0x607f766c, 0x7455, 0x42be, {0x93, 0x0b, 0xe4, 0xd7, 0x6d, 0xb2, 0x72, 0x0f}};
static EFI_GUID linux_log_guid = {0xb7799cb0, 0xeca2, 0x4943, {0x96, 0x67, 0x1f, 0xae, 0x07, 0xb7, 0x47, 0xfa}};

static UINT32 get32(const UINT8 *p) { return p[0] | p[1] << 8 | p[2] << 16 | (UINT32)p[3] << 24; }
static UINT16 get16(const UINT8 *p) { return p[0] | p[1] << 8; }

static UINTN digest_size(UINT16 alg) {
    switch (alg) {
    case 0x0004: return 20;  /* SHA-1 */
    case 0x000b: return 32;  /* SHA-256 */
    case 0x000c: return 48;  /* SHA-384 */
    case 0x000d: return 64;  /* SHA-512 */
    case 0x0012: return 32;  /* SM3-256 */
    default: return 0;
    }
}

/* Size of the TCG_PCR_EVENT2 at p: pcrIndex, eventType, TPML_DIGEST_VALUES, eventSize, event. 0 if unreadable. */
static UINTN event2_size(const UINT8 *p) {
    UINT32 count = get32(p + 8);
    UINTN off = 12;
    if (count == 0 || count > 8) return 0;
    for (UINT32 i = 0; i < count; i++) {
        UINTN size = digest_size(get16(p + off));
        if (size == 0) return 0;
        off += 2 + size;
    }
    return off + 4 + get32(p + off);
}

static EFI_STATUS start_grub(EFI_HANDLE image) {
    EFI_LOADED_IMAGE *loaded = NULL;
    EFI_STATUS status = uefi_call_wrapper(BS->HandleProtocol, 3, image, &LoadedImageProtocol, (void **)&loaded);
    if (EFI_ERROR(status)) return status;
    EFI_DEVICE_PATH *path = FileDevicePath(loaded->DeviceHandle, L"\\EFI\\BOOT\\grubx64.efi");
    EFI_HANDLE grub = NULL;
    status = uefi_call_wrapper(BS->LoadImage, 6, FALSE, image, path, NULL, 0, &grub);
    if (EFI_ERROR(status)) return status;
    return uefi_call_wrapper(BS->StartImage, 3, grub, NULL, NULL);
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab) {
    InitializeLib(image, systab);
    tcg2_protocol *tcg2 = NULL;
    EFI_STATUS status = uefi_call_wrapper(BS->LocateProtocol, 3, &tcg2_guid, NULL, (void **)&tcg2);
    if (EFI_ERROR(status)) {
        Print(L"tpm-log-handoff: no EFI_TCG2_PROTOCOL (%r); no event log for the OS\n", status);
        return start_grub(image);
    }
    EFI_PHYSICAL_ADDRESS first = 0, last = 0;
    BOOLEAN truncated = FALSE;
    status = uefi_call_wrapper(tcg2->get_event_log, 5, tcg2, TCG2_FORMAT_CRYPTO_AGILE, &first, &last, &truncated);
    if (EFI_ERROR(status) || first == 0) {
        Print(L"tpm-log-handoff: GetEventLog failed (%r)\n", status);
        return start_grub(image);
    }
    UINTN size = 0;
    if (last != 0) {
        UINTN tail = event2_size((const UINT8 *)(UINTN)last);
        if (tail == 0) {
            Print(L"tpm-log-handoff: cannot size the last event\n");
            return start_grub(image);
        }
        size = (UINTN)(last - first) + tail;
    }
    UINT8 *table = NULL;
    status = uefi_call_wrapper(BS->AllocatePool, 3, EfiACPIReclaimMemory, 9 + size, (void **)&table);
    if (EFI_ERROR(status)) {
        Print(L"tpm-log-handoff: AllocatePool failed (%r)\n", status);
        return start_grub(image);
    }
    UINT32 size32 = (UINT32)size, zero = 0;
    CopyMem(table, &size32, 4);
    CopyMem(table + 4, &zero, 4); /* the final-events table is empty until this GetEventLog call */
    table[8] = TCG2_FORMAT_CRYPTO_AGILE;
    CopyMem(table + 9, (void *)(UINTN)first, size);
    status = uefi_call_wrapper(BS->InstallConfigurationTable, 2, &linux_log_guid, table);
    Print(L"tpm-log-handoff: %d bytes of TCG2 event log handed to the OS%s (%r)\n", (UINT32)size,
          truncated ? L" (truncated)" : L"", status);
    return start_grub(image);
}
