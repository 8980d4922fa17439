#ifndef CXEN_SHIM_H
#define CXEN_SHIM_H

#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xenctrl.h>
#include <xenhypfs.h>

/* Glue for the Measurement target's Xen source. Fixed-size char arrays and variable-length structs are
 * awkward from Swift, so these helpers copy them into caller-owned buffers.
 *
 * The Xen libraries are not linked: they are opened with dlopen when the xen source is first used (a KVM host
 * need not have them), and every call goes through CXen_api, whose members have the headers' exact types. */

typedef struct {
    __typeof__(&xc_interface_open) xc_interface_open;
    __typeof__(&xc_interface_close) xc_interface_close;
    __typeof__(&xc_version) xc_version;
    __typeof__(&xc_livepatch_list_get_sizes) xc_livepatch_list_get_sizes;
    __typeof__(&xc_livepatch_list) xc_livepatch_list;
    __typeof__(&xenhypfs_open) xenhypfs_open;
    __typeof__(&xenhypfs_close) xenhypfs_close;
    __typeof__(&xenhypfs_read) xenhypfs_read;
    __typeof__(&xenhypfs_readdir) xenhypfs_readdir;
} CXen_api;

/* Opens libxenctrl (ctrl) and libxenhypfs (hypfs) and fills api. Returns 0, or -1 with the reason (dlerror's)
 * in error[cap]; the libraries stay loaded for the life of the process. */
static inline int CXen_load(CXen_api *api, const char *ctrl, const char *hypfs, char *error, size_t cap) {
    void *c = dlopen(ctrl, RTLD_NOW | RTLD_LOCAL);
    void *h = c ? dlopen(hypfs, RTLD_NOW | RTLD_LOCAL) : NULL;
    if (c && h) {
#define CXEN_SYM(lib, name) api->name = (__typeof__(api->name))dlsym(lib, #name); if (!api->name) goto fail;
        CXEN_SYM(c, xc_interface_open) CXEN_SYM(c, xc_interface_close) CXEN_SYM(c, xc_version)
        CXEN_SYM(c, xc_livepatch_list_get_sizes) CXEN_SYM(c, xc_livepatch_list)
        CXEN_SYM(h, xenhypfs_open) CXEN_SYM(h, xenhypfs_close) CXEN_SYM(h, xenhypfs_read) CXEN_SYM(h, xenhypfs_readdir)
#undef CXEN_SYM
        return 0;
    }
fail:
    if (cap) {
        const char *why = dlerror();
        strncpy(error, why ? why : "unknown dlopen failure", cap - 1);
        error[cap - 1] = 0;
    }
    if (h) dlclose(h);
    if (c) dlclose(c);
    return -1;
}

/* XENVER_version: (major << 16) | minor, or a negative error. */
static inline int CXen_version_number(const CXen_api *api, xc_interface *xch) {
    return api->xc_version(xch, XENVER_version, NULL);
}

/* XENVER_extraversion / _capabilities / _changeset / _commandline as a NUL-terminated string in out[cap].
 * Returns the string length, or a negative value on error or for another command. */
static inline int CXen_version_text(const CXen_api *api, xc_interface *xch, int cmd, char *out, size_t cap) {
    char tmp[1024 + 1];
    memset(tmp, 0, sizeof(tmp));
    switch (cmd) {
    case XENVER_extraversion: case XENVER_capabilities: case XENVER_changeset: case XENVER_commandline: break;
    default: return -1;
    }
    if (cap == 0) return -1;
    int rc = api->xc_version(xch, cmd, tmp);
    if (rc < 0) return rc;
    size_t n = strnlen(tmp, 1024);
    if (n >= cap) n = cap - 1;
    memcpy(out, tmp, n);
    out[n] = 0;
    return (int)n;
}

/* XENVER_build_id into out[cap]. Returns the build-id length, or a negative value. */
static inline int CXen_build_id(const CXen_api *api, xc_interface *xch, unsigned char *out, uint32_t cap) {
    xen_build_id_t *id = (xen_build_id_t *)calloc(1, sizeof(xen_build_id_t) + cap);
    if (!id) return -1;
    id->len = cap;
    int rc = api->xc_version(xch, XENVER_build_id, id);
    if (rc > 0 && (uint32_t)rc <= cap) memcpy(out, id->buf, (size_t)rc);
    else if (rc > 0) rc = -1;
    free(id);
    return rc;
}

/* Applied / checked livepatches as text lines "name\tstate\trc\tmetadata\n" (metadata NULs turned into ';')
 * into out[cap]. Returns the number of bytes written (0 when none), or a negative value. */
static inline int CXen_livepatch_text(const CXen_api *api, xc_interface *xch, char *out, size_t cap) {
    unsigned int nr = 0, done = 0, left = 0;
    uint32_t name_total = 0, meta_total = 0;
    int rc = api->xc_livepatch_list_get_sizes(xch, &nr, &name_total, &meta_total);
    if (rc) return rc < 0 ? rc : -rc;
    if (nr == 0) { if (cap) out[0] = 0; return 0; }
    xen_livepatch_status_t *info = (xen_livepatch_status_t *)calloc(nr, sizeof(*info));
    char *names = (char *)calloc(1, name_total + 1);
    uint32_t *lens = (uint32_t *)calloc(nr, sizeof(uint32_t));
    char *meta = (char *)calloc(1, meta_total + 1);
    uint32_t *meta_lens = (uint32_t *)calloc(nr, sizeof(uint32_t));
    size_t used = 0;
    if (!info || !names || !lens || !meta || !meta_lens) { rc = -1; goto out; }
    rc = api->xc_livepatch_list(xch, nr, 0, info, names, lens, name_total, meta, meta_lens, meta_total, &done, &left);
    if (rc) { rc = rc < 0 ? rc : -rc; goto out; }
    {
        size_t name_off = 0, meta_off = 0;
        for (unsigned int i = 0; i < done; i++) {
            char line[4096];
            uint32_t nl = lens[i] < 256 ? lens[i] : 255;
            uint32_t ml = meta_lens[i] < 2048 ? meta_lens[i] : 2047;
            char m[2048];
            if (meta_off + ml > meta_total || name_off + nl > name_total) { rc = -1; goto out; }
            memcpy(m, meta + meta_off, ml);
            for (uint32_t k = 0; k < ml; k++) if (m[k] == 0) m[k] = ';';
            m[ml] = 0;
            int w = snprintf(line, sizeof(line), "%.*s\t%u\t%d\t%s\n", (int)nl, names + name_off,
                             info[i].state, info[i].rc, m);
            if (w < 0) { rc = -1; goto out; }
            if (used + (size_t)w >= cap) { rc = -1; goto out; }
            memcpy(out + used, line, (size_t)w);
            used += (size_t)w;
            name_off += lens[i];
            meta_off += meta_lens[i];
        }
        out[used] = 0;
        rc = (int)used;
    }
out:
    free(info); free(names); free(lens); free(meta); free(meta_lens);
    return rc;
}

/* Frees memory returned by xenhypfs_read / xenhypfs_readdir. */
static inline void CXen_free(void *p) { free(p); }

#endif
