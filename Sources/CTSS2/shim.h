#ifndef CTSS2_SHIM_H
#define CTSS2_SHIM_H

#include <tss2/tss2_common.h>
#include <tss2/tss2_tpm2_types.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

/* Constants whose C macros carry casts Swift cannot import. */
static inline TPM2_RH CTSS2_RH_ENDORSEMENT(void) { return TPM2_RH_ENDORSEMENT; }
static inline TPM2_RH CTSS2_RH_OWNER(void) { return TPM2_RH_OWNER; }
static inline TPM2_RH CTSS2_RH_NULL(void) { return TPM2_RH_NULL; }
static inline TPM2_HT CTSS2_HT_TRANSIENT(void) { return TPM2_HT_TRANSIENT; }
static inline TPM2_HT CTSS2_HT_LOADED_SESSION(void) { return TPM2_HT_LOADED_SESSION; }
static inline TPM2_HT CTSS2_HT_SAVED_SESSION(void) { return TPM2_HT_SAVED_SESSION; }
static inline TPM2_CAP CTSS2_CAP_HANDLES(void) { return TPM2_CAP_HANDLES; }
static inline TPM2_CAP CTSS2_CAP_TPM_PROPERTIES(void) { return TPM2_CAP_TPM_PROPERTIES; }
static inline TPM2_CAP CTSS2_CAP_PCRS(void) { return TPM2_CAP_PCRS; }
static inline TPM2_PT CTSS2_PT_FIXED(void) { return TPM2_PT_FIXED; }
static inline TPM2_PT CTSS2_PT_NV_BUFFER_MAX(void) { return TPM2_PT_NV_BUFFER_MAX; }
static inline TPM2_SE CTSS2_SE_POLICY(void) { return TPM2_SE_POLICY; }
static inline TPM2_ALG_ID CTSS2_ALG_NULL(void) { return TPM2_ALG_NULL; }
static inline TPM2_ALG_ID CTSS2_ALG_SHA256(void) { return TPM2_ALG_SHA256; }
static inline ESYS_TR CTSS2_TR_PCR(UINT32 index) { return ESYS_TR_PCR0 + index; }

/* TPMT_SYM_DEF with algorithm TPM_ALG_NULL, for unsalted, unencrypted policy sessions. */
static inline TPMT_SYM_DEF CTSS2_SymDefNull(void) {
    TPMT_SYM_DEF def = { .algorithm = TPM2_ALG_NULL };
    return def;
}

/* TPMT_SIG_SCHEME with scheme TPM_ALG_NULL: the key's own scheme is used. */
static inline TPMT_SIG_SCHEME CTSS2_SigSchemeNull(void) {
    TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
    return scheme;
}

#endif
