; smig-attest demo guest: a 512-byte boot sector that counts timer ticks and halts in between.
;
; Like counter.asm it writes one non-zero dword into every 4 KiB page from 1 MiB to the top of RAM (so a
; live migration has to send all of the guest's memory). Then, instead of spinning, it programs the PIT for
; 100 Hz, unmasks only IRQ 0 and sleeps in `hlt`. Each tick increments the 32-bit counter at physical 0x7E00
; (the same address as counter.asm) and writes it into the first dword of the 16 pages from 0x10000 to
; 0x1FFFF, so there are dirty pages to resend. Ten of these guests cost almost no CPU.
;
; Assemble: nasm -f bin -o ticker.bin ticker.asm  (TestGuest.swift embeds the result; a test checks that the
; embedding equals a fresh assembly).

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
    mov al, 0xfe            ; PIC: only IRQ 0 (the timer) on the master, nothing on the slave
    out 0x21, al
    mov al, 0xff
    out 0xa1, al
    mov al, 0x34            ; PIT channel 0, lo/hi byte, rate generator
    out 0x43, al
    mov ax, 11932           ; 1193182 Hz / 11932 = 100 Hz
    out 0x40, al
    mov al, ah
    out 0x40, al
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
    ; IDT at 0x7000: 16 interrupt gates, all to `tick` (the BIOS left IRQ 0 on vector 8).
    mov edi, 0x7000
    mov eax, tick
    mov ecx, 16
.gate:
    mov word [edi], ax      ; offset 15..0
    mov word [edi + 2], 0x08
    mov word [edi + 4], 0x8e00
    mov word [edi + 6], 0   ; offset 31..16 (the handler is below 64 KiB)
    add edi, 8
    loop .gate
    lidt [idt_desc]
    sti
.idle:
    hlt
    jmp .idle

tick:
    push eax
    push edi
    inc dword [0x7e00]
    mov eax, [0x7e00]
    mov edi, 0x10000
.dirty:
    mov [edi], eax
    add edi, 0x1000
    cmp edi, 0x20000
    jb .dirty
    mov al, 0x20            ; end of interrupt
    out 0x20, al
    pop edi
    pop eax
    iret

align 8
gdt:
    dq 0                    ; null
    dq 0x00cf9a000000ffff   ; 0x08: code, base 0, limit 4 GiB, 32-bit
    dq 0x00cf92000000ffff   ; 0x10: data, base 0, limit 4 GiB
gdt_desc:
    dw gdt_desc - gdt - 1
    dd gdt
idt_desc:
    dw 16 * 8 - 1
    dd 0x7000
blocks:
    dw 0

times 510 - ($ - $$) db 0
dw 0xaa55
