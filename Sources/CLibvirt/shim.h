#ifndef CLIBVIRT_SHIM_H
#define CLIBVIRT_SHIM_H

#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

/* Glue for the Libvirt target. libvirt is not linked: it is opened with dlopen the first time a connection is made
 * (a Xen dom0 or a host whose agent uses another VM manager need not have it), and every call goes through
 * CLibvirt_api, whose members have the headers' exact types. */

typedef struct {
    __typeof__(&virInitialize) virInitialize;
    __typeof__(&virSetErrorFunc) virSetErrorFunc;
    __typeof__(&virGetLastError) virGetLastError;
    __typeof__(&virConnectOpen) virConnectOpen;
    __typeof__(&virConnectRef) virConnectRef;
    __typeof__(&virConnectClose) virConnectClose;
    __typeof__(&virConnectListAllDomains) virConnectListAllDomains;
    __typeof__(&virNodeGetInfo) virNodeGetInfo;
    __typeof__(&virDomainLookupByName) virDomainLookupByName;
    __typeof__(&virDomainLookupByUUIDString) virDomainLookupByUUIDString;
    __typeof__(&virDomainFree) virDomainFree;
    __typeof__(&virDomainGetName) virDomainGetName;
    __typeof__(&virDomainGetUUIDString) virDomainGetUUIDString;
    __typeof__(&virDomainGetInfo) virDomainGetInfo;
    __typeof__(&virDomainGetState) virDomainGetState;
    __typeof__(&virDomainIsPersistent) virDomainIsPersistent;
    __typeof__(&virDomainResume) virDomainResume;
    __typeof__(&virDomainSuspend) virDomainSuspend;
    __typeof__(&virDomainDestroy) virDomainDestroy;
    __typeof__(&virDomainUndefine) virDomainUndefine;
    __typeof__(&virDomainMigrateSetMaxDowntime) virDomainMigrateSetMaxDowntime;
    __typeof__(&virDomainMigrateToURI3) virDomainMigrateToURI3;
    __typeof__(&virDomainGetJobStats) virDomainGetJobStats;
    __typeof__(&virDomainAbortJob) virDomainAbortJob;
    __typeof__(&virTypedParamsAddULLong) virTypedParamsAddULLong;
    __typeof__(&virTypedParamsAddInt) virTypedParamsAddInt;
    __typeof__(&virTypedParamsAddString) virTypedParamsAddString;
    __typeof__(&virTypedParamsGetULLong) virTypedParamsGetULLong;
    __typeof__(&virTypedParamsFree) virTypedParamsFree;
} CLibvirt_api;

/* Opens libvirt (path, e.g. its soname "libvirt.so.0") and fills api. Returns 0, or -1 with the reason (dlerror's)
 * in error[cap]; the library stays loaded for the life of the process. */
static inline int CLibvirt_load(CLibvirt_api *api, const char *path, char *error, size_t cap) {
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib) {
#define CLIBVIRT_SYM(name) api->name = (__typeof__(api->name))dlsym(lib, #name); if (!api->name) goto fail;
        CLIBVIRT_SYM(virInitialize) CLIBVIRT_SYM(virSetErrorFunc) CLIBVIRT_SYM(virGetLastError)
        CLIBVIRT_SYM(virConnectOpen) CLIBVIRT_SYM(virConnectRef) CLIBVIRT_SYM(virConnectClose)
        CLIBVIRT_SYM(virConnectListAllDomains) CLIBVIRT_SYM(virNodeGetInfo) CLIBVIRT_SYM(virDomainLookupByName)
        CLIBVIRT_SYM(virDomainLookupByUUIDString) CLIBVIRT_SYM(virDomainFree) CLIBVIRT_SYM(virDomainGetName)
        CLIBVIRT_SYM(virDomainGetUUIDString) CLIBVIRT_SYM(virDomainGetInfo) CLIBVIRT_SYM(virDomainGetState)
        CLIBVIRT_SYM(virDomainIsPersistent) CLIBVIRT_SYM(virDomainResume) CLIBVIRT_SYM(virDomainSuspend)
        CLIBVIRT_SYM(virDomainDestroy) CLIBVIRT_SYM(virDomainUndefine) CLIBVIRT_SYM(virDomainMigrateSetMaxDowntime)
        CLIBVIRT_SYM(virDomainMigrateToURI3) CLIBVIRT_SYM(virDomainGetJobStats) CLIBVIRT_SYM(virDomainAbortJob)
        CLIBVIRT_SYM(virTypedParamsAddULLong) CLIBVIRT_SYM(virTypedParamsAddInt) CLIBVIRT_SYM(virTypedParamsAddString)
        CLIBVIRT_SYM(virTypedParamsGetULLong) CLIBVIRT_SYM(virTypedParamsFree)
#undef CLIBVIRT_SYM
        return 0;
    }
fail:;
    const char *why = dlerror();
    if (cap) snprintf(error, cap, "%s", why ? why : "unknown dlopen failure");
    if (lib) dlclose(lib);
    return -1;
}

/* libvirt's default error handler prints every failure to stderr; ours carry libvirt's message already. */
static void CLibvirt_ignoreError(void *userData, virErrorPtr error) {
    (void)userData;
    (void)error;
}

static inline void CLibvirt_silenceDefaultErrorHandler(const CLibvirt_api *api) {
    api->virSetErrorFunc(NULL, CLibvirt_ignoreError);
}

/* Constants whose C macros Swift cannot import (arithmetic in parentheses). */
static inline int CLibvirt_UUID_STRING_BUFLEN(void) { return VIR_UUID_STRING_BUFLEN; }

#endif
