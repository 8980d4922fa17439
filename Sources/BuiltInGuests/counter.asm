; smig-attest test guest: a 512-byte boot sector that never stops counting.
;
; Loaded by the BIOS at 0000:7C00 in real mode. It
;   1. reads the RAM size from CMOS (0x34/0x35: 64 KiB blocks above 16 MiB),
;   2. switches to 32-bit protected mode (flat segments, A20 on),
;   3. writes one non-zero dword into every 4 KiB page from 1 MiB to the top of RAM, so
;      live migration has to send all of the guest's memory (zero pages cost nothing),
;   4. then loops forever: increment the 32-bit counter at physical 0x7E00
;      (COUNTER_ADDR in TestGuest.swift) and write it into the first dword of each of
;      the 128 pages from 0x10000 to 0x8FFFF, so there are always dirty pages to resend.
; The top of RAM it found is left at 0x7E04.
; Read the counter over QMP: `human-monitor-command` "xp /1wx 0x7e00".
;
; Assemble: nasm -f bin -o counter.bin counter.asm  (TestGuest.swift embeds the
; result; a test checks the embedding equals a fresh assembly).

bits 16
org 0x7c00

start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7c00
    mov al, 0x35            ; CMOS: extended memory above 16 MiB, high byte
    out 0x70, al
    in al, 0x71
    mov ah, al
    mov al, 0x34            ; low byte
    out 0x70, al
    in al, 0x71
    mov [blocks], ax
    in al, 0x92             ; fast A20 gate
    or al, 2
    and al, 0xfe
    out 0x92, al
    lgdt [gdt_desc]
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    jmp 0x08:protected

bits 32
protected:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x7c00
    movzx ecx, word [blocks]
    shl ecx, 16
    add ecx, 0x1000000      ; top of RAM = 16 MiB + blocks * 64 KiB
    mov [0x7e04], ecx
    mov edi, 0x100000
.fill:
    cmp edi, ecx
    jae .filled
    mov [edi], edi          ; non-zero, different in every page
    add edi, 0x1000
    jmp .fill
.filled:
    mov dword [0x7e00], 0
.loop:
    inc dword [0x7e00]
    mov eax, [0x7e00]
    mov edi, 0x10000
.dirty:
    mov [edi], eax
    add edi, 0x1000
    cmp edi, 0x90000
    jb .dirty
    jmp .loop

align 8
gdt:
    dq 0                    ; null
    dq 0x00cf9a000000ffff   ; 0x08: code, base 0, limit 4 GiB, 32-bit
    dq 0x00cf92000000ffff   ; 0x10: data, base 0, limit 4 GiB
gdt_desc:
    dw gdt_desc - gdt - 1
    dd gdt
blocks:
    dw 0

times 510 - ($ - $$) db 0
dw 0xaa55
