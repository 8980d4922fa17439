#ifndef CLIBVIRT_SHIM_H
#define CLIBVIRT_SHIM_H

#include <stddef.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

/* libvirt's default error handler prints every failure to stderr; ours carry libvirt's message already. */
static void CLibvirt_ignoreError(void *userData, virErrorPtr error) {
    (void)userData;
    (void)error;
}

static inline void CLibvirt_silenceDefaultErrorHandler(void) {
    virSetErrorFunc(NULL, CLibvirt_ignoreError);
}

/* Constants whose C macros Swift cannot import (arithmetic in parentheses). */
static inline int CLibvirt_UUID_STRING_BUFLEN(void) { return VIR_UUID_STRING_BUFLEN; }

#endif
