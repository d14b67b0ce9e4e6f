/*
 * A PKCS#11 module that forwards every call to a real module, records the calls, and
 * makes a chosen call fail or abort the process: the fault-injection part of zeroth's
 * tests. It is a test tool, never shipped. See README.md beside it for the environment
 * variables and the record format.
 *
 * It exports C_GetFunctionList, and C_GetInterface / C_GetInterfaceList offering the
 * one interface it forwards ("PKCS 11", version 2.40): cryptoki 0.12 asks
 * C_GetInterface for the default interface first and, seeing a 2.x function list,
 * falls back to C_GetFunctionList. The real module is opened (dlopen) at the first of
 * those calls, from ZEROTH_SHIM_MODULE.
 *
 * Calls are numbered in the order they are made, from 1, across every load of the
 * module in one process: the library is linked -z nodelete, so a dlclose() (cryptoki
 * drops its context after each ceremony's session) does not reset the count.
 *
 * PKCS#11 types come from p11-kit's pkcs11.h (Debian libp11-kit-dev), a 2.40 header.
 */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#define EXPORT __attribute__((visibility("default")))

/* Every function of the 2.40 function list after C_GetFunctionList, in list order:
 * X(name, parameters, arguments). */
#define SHIM_FORWARDED(X)                                                              \
    X(C_Initialize, (void *a), (a))                                                    \
    X(C_Finalize, (void *a), (a))                                                      \
    X(C_GetInfo, (CK_INFO_PTR a), (a))                                            \
    X(C_GetSlotList, (unsigned char a, CK_SLOT_ID *b, unsigned long *c), (a, b, c))  \
    X(C_GetSlotInfo, (CK_SLOT_ID a, CK_SLOT_INFO_PTR b), (a, b))                 \
    X(C_GetTokenInfo, (CK_SLOT_ID a, CK_TOKEN_INFO_PTR b), (a, b))               \
    X(C_GetMechanismList, (CK_SLOT_ID a, CK_MECHANISM_TYPE *b, unsigned long *c),  \
      (a, b, c))                                                                       \
    X(C_GetMechanismInfo,                                                              \
      (CK_SLOT_ID a, CK_MECHANISM_TYPE b, CK_MECHANISM_INFO_PTR c), (a, b, c)) \
    X(C_InitToken,                                                                     \
      (CK_SLOT_ID a, unsigned char *b, unsigned long c, unsigned char *d),           \
      (a, b, c, d))                                                                    \
    X(C_InitPIN, (CK_SESSION_HANDLE a, unsigned char *b, unsigned long c), (a, b, c)) \
    X(C_SetPIN,                                                                        \
      (CK_SESSION_HANDLE a, unsigned char *b, unsigned long c, unsigned char *d,     \
       unsigned long e),                                                               \
      (a, b, c, d, e))                                                                 \
    X(C_OpenSession,                                                                   \
      (CK_SLOT_ID a, CK_FLAGS b, void *c, CK_NOTIFY d, CK_SESSION_HANDLE *e),  \
      (a, b, c, d, e))                                                                 \
    X(C_CloseSession, (CK_SESSION_HANDLE a), (a))                                    \
    X(C_CloseAllSessions, (CK_SLOT_ID a), (a))                                       \
    X(C_GetSessionInfo, (CK_SESSION_HANDLE a, CK_SESSION_INFO_PTR b), (a, b))    \
    X(C_GetOperationState,                                                             \
      (CK_SESSION_HANDLE a, unsigned char *b, unsigned long *c), (a, b, c))          \
    X(C_SetOperationState,                                                             \
      (CK_SESSION_HANDLE a, unsigned char *b, unsigned long c, CK_OBJECT_HANDLE d, \
       CK_OBJECT_HANDLE e),                                                          \
      (a, b, c, d, e))                                                                 \
    X(C_Login,                                                                         \
      (CK_SESSION_HANDLE a, CK_USER_TYPE b, unsigned char *c, unsigned long d),    \
      (a, b, c, d))                                                                    \
    X(C_Logout, (CK_SESSION_HANDLE a), (a))                                          \
    X(C_CreateObject,                                                                  \
      (CK_SESSION_HANDLE a, CK_ATTRIBUTE_PTR b, unsigned long c,                 \
       CK_OBJECT_HANDLE *d),                                                         \
      (a, b, c, d))                                                                    \
    X(C_CopyObject,                                                                    \
      (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c,            \
       unsigned long d, CK_OBJECT_HANDLE *e),                                        \
      (a, b, c, d, e))                                                                 \
    X(C_DestroyObject, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b), (a, b))          \
    X(C_GetObjectSize, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, unsigned long *c), \
      (a, b, c))                                                                       \
    X(C_GetAttributeValue,                                                             \
      (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c,            \
       unsigned long d),                                                               \
      (a, b, c, d))                                                                    \
    X(C_SetAttributeValue,                                                             \
      (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c,            \
       unsigned long d),                                                               \
      (a, b, c, d))                                                                    \
    X(C_FindObjectsInit, (CK_SESSION_HANDLE a, CK_ATTRIBUTE_PTR b, unsigned long c), \
      (a, b, c))                                                                       \
    X(C_FindObjects,                                                                   \
      (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE *b, unsigned long c, unsigned long *d), \
      (a, b, c, d))                                                                    \
    X(C_FindObjectsFinal, (CK_SESSION_HANDLE a), (a))                                \
    X(C_EncryptInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), \
      (a, b, c))                                                                       \
    X(C_Encrypt,                                                                       \
      (CK_SESSION_HANDLE a, unsigned char *b, unsigned long c, unsigned char *d,     \
       unsigned long *e),                                                              \
      (a, b, c, d, e))                                                                 \
    X(C_EncryptUpdate,                                                                 \
      (CK_SESSION_HANDLE a, unsigned char *b, unsigned long c, unsigned char *d,     \
       unsigned long *e),                                                              \
      (a, b, c, d, e))                                                                 \
    X(C_EncryptFinal, (CK_SESSION_HANDLE a, unsigned char *b, unsigned long *c),     \
      (a, b, c))                                                                       \
    X(C_DecryptInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), \
      (a, b, c))                                                                       \
    X(C_Decrypt,                                                                       \
      (CK_SESSION_HANDLE a, unsigned char *b, unsigned long c, unsigned char *d,     \
       unsigned long *e),                                                              \
      (a, b, c, d, e))                                                                 \
    X(C_DecryptUpdate,                                                                 \
      (CK_SESSION_HANDLE a, unsigned char *b, unsigned long c, unsigned char *d,     \
       unsigned long *e),                                                              \
      (a, b, c, d, e))                                                                 \
    X(C_DecryptFinal, (CK_SESSION_HANDLE a, unsigned char *b, unsigned long *c),     \
      (a, b, c))                                                                       \
    X(C_DigestInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b), (a, b))           \
    X(C_Digest,                                                                        \
      (CK_SESSION_HANDLE a, unsigned char *b, unsigned long c, unsigned char *d,     \
       unsigned long *e),                                                              \
      (a, b, c, d, e))                                                                 \
    X(C_DigestUpdate, (CK_SESSION_HANDLE a, unsigned char *b, unsigned long c),      \
      (a, b, c))                                                                       \
    X(C_DigestKey, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b), (a, b))              \
    X(C_DigestFinal, (CK_SESSION_HANDLE a, unsigned char *b, unsigned long *c),      \
      (a, b, c))                                                                       \
    X(C_SignInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), \
      (a, b, c))                                                                       \
    X(C_Sign,                                                                          \
      (CK_SESSION_HANDLE a, unsigned char *b, unsigned long c, unsigned char *d,     \
       unsigned long *e),                                                              \
      (a, b, c, d, e))                                                                 \
    X(C_SignUpdate, (CK_SESSION_HANDLE a, unsigned char *b, unsigned long c),        \
      (a, b, c))                                                                       \
    X(C_SignFinal, (CK_SESSION_HANDLE a, unsigned char *b, unsigned long *c),        \
      (a, b, c))                                                                       \
    X(C_SignRecoverInit,                                                               \
      (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (a, b, c)) \
    X(C_SignRecover,                                                                   \
      (CK_SESSION_HANDLE a, unsigned char *b, unsigned long c, unsigned char *d,     \
       unsigned long *e),                                                              \
      (a, b, c, d, e))                                                                 \
    X(C_VerifyInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), \
      (a, b, c))                                                                       \
    X(C_Verify,                                                                        \
      (CK_SESSION_HANDLE a, unsigned char *b, unsigned long c, unsigned char *d,     \
       unsigned long e),                                                               \
      (a, b, c, d, e))                                                                 \
    X(C_VerifyUpdate, (CK_SESSION_HANDLE a, unsigned char *b, unsigned long c),      \
      (a, b, c))                                                                       \
    X(C_VerifyFinal, (CK_SESSION_HANDLE a, unsigned char *b, unsigned long c),       \
      (a, b, c))                                                                       \
    X(C_VerifyRecoverInit,                                                             \
      (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (a, b, c)) \
    X(C_VerifyRecover,                                                                 \
      (CK_SESSION_HANDLE a, unsigned char *b, unsigned long c, unsigned char *d,     \
       unsigned long *e),                                                              \
      (a, b, c, d, e))                                                                 \
    X(C_DigestEncryptUpdate,                                                           \
      (CK_SESSION_HANDLE a, unsigned char *b, unsigned long c, unsigned char *d,     \
       unsigned long *e),                                                              \
      (a, b, c, d, e))                                                                 \
    X(C_DecryptDigestUpdate,                                                           \
      (CK_SESSION_HANDLE a, unsigned char *b, unsigned long c, unsigned char *d,     \
       unsigned long *e),                                                              \
      (a, b, c, d, e))                                                                 \
    X(C_SignEncryptUpdate,                                                             \
      (CK_SESSION_HANDLE a, unsigned char *b, unsigned long c, unsigned char *d,     \
       unsigned long *e),                                                              \
      (a, b, c, d, e))                                                                 \
    X(C_DecryptVerifyUpdate,                                                           \
      (CK_SESSION_HANDLE a, unsigned char *b, unsigned long c, unsigned char *d,     \
       unsigned long *e),                                                              \
      (a, b, c, d, e))                                                                 \
    X(C_GenerateKey,                                                                   \
      (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c,          \
       unsigned long d, CK_OBJECT_HANDLE *e),                                        \
      (a, b, c, d, e))                                                                 \
    X(C_GenerateKeyPair,                                                               \
      (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c,          \
       unsigned long d, CK_ATTRIBUTE_PTR e, unsigned long f, CK_OBJECT_HANDLE *g, \
       CK_OBJECT_HANDLE *h),                                                         \
      (a, b, c, d, e, f, g, h))                                                        \
    X(C_WrapKey,                                                                       \
      (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c,            \
       CK_OBJECT_HANDLE d, unsigned char *e, unsigned long *f),                      \
      (a, b, c, d, e, f))                                                              \
    X(C_UnwrapKey,                                                                     \
      (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c,            \
       unsigned char *d, unsigned long e, CK_ATTRIBUTE_PTR f, unsigned long g,     \
       CK_OBJECT_HANDLE *h),                                                         \
      (a, b, c, d, e, f, g, h))                                                        \
    X(C_DeriveKey,                                                                     \
      (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c,            \
       CK_ATTRIBUTE_PTR d, unsigned long e, CK_OBJECT_HANDLE *f),                \
      (a, b, c, d, e, f))                                                              \
    X(C_SeedRandom, (CK_SESSION_HANDLE a, unsigned char *b, unsigned long c), (a, b, c)) \
    X(C_GenerateRandom, (CK_SESSION_HANDLE a, unsigned char *b, unsigned long c),    \
      (a, b, c))                                                                       \
    X(C_GetFunctionStatus, (CK_SESSION_HANDLE a), (a))                               \
    X(C_CancelFunction, (CK_SESSION_HANDLE a), (a))                                  \
    X(C_WaitForSlotEvent, (CK_FLAGS a, CK_SLOT_ID *b, void *c), (a, b, c))

/* Function ids, for the per-function call counts. */
enum shim_fn {
    FN_C_GetInterfaceList,
    FN_C_GetInterface,
    FN_C_GetFunctionList,
#define SHIM_ENUM(name, params, args) FN_##name,
    SHIM_FORWARDED(SHIM_ENUM)
#undef SHIM_ENUM
    FN_COUNT
};

static const char *const fn_names[FN_COUNT] = {
    "C_GetInterfaceList",
    "C_GetInterface",
    "C_GetFunctionList",
#define SHIM_NAME(name, params, args) #name,
    SHIM_FORWARDED(SHIM_NAME)
#undef SHIM_NAME
};

/* The return values a fault can be named by, and records print by name. */
static const struct {
    const char *name;
    CK_RV rv;
} rv_names[] = {
#define RV(n) {#n, n}
    RV(CKR_OK), RV(CKR_CANCEL), RV(CKR_HOST_MEMORY), RV(CKR_SLOT_ID_INVALID),
    RV(CKR_GENERAL_ERROR), RV(CKR_FUNCTION_FAILED), RV(CKR_ARGUMENTS_BAD),
    RV(CKR_NO_EVENT), RV(CKR_ATTRIBUTE_READ_ONLY), RV(CKR_ATTRIBUTE_SENSITIVE),
    RV(CKR_ATTRIBUTE_TYPE_INVALID), RV(CKR_ATTRIBUTE_VALUE_INVALID),
    RV(CKR_ACTION_PROHIBITED), RV(CKR_DATA_INVALID), RV(CKR_DATA_LEN_RANGE),
    RV(CKR_DEVICE_ERROR), RV(CKR_DEVICE_MEMORY), RV(CKR_DEVICE_REMOVED),
    RV(CKR_ENCRYPTED_DATA_INVALID), RV(CKR_FUNCTION_CANCELED),
    RV(CKR_FUNCTION_NOT_SUPPORTED), RV(CKR_KEY_HANDLE_INVALID),
    RV(CKR_KEY_TYPE_INCONSISTENT), RV(CKR_KEY_FUNCTION_NOT_PERMITTED),
    RV(CKR_KEY_NOT_WRAPPABLE), RV(CKR_KEY_UNEXTRACTABLE), RV(CKR_MECHANISM_INVALID),
    RV(CKR_MECHANISM_PARAM_INVALID), RV(CKR_OBJECT_HANDLE_INVALID),
    RV(CKR_OPERATION_ACTIVE), RV(CKR_OPERATION_NOT_INITIALIZED), RV(CKR_PIN_INCORRECT),
    RV(CKR_PIN_INVALID), RV(CKR_PIN_LEN_RANGE), RV(CKR_PIN_EXPIRED), RV(CKR_PIN_LOCKED),
    RV(CKR_SESSION_CLOSED), RV(CKR_SESSION_COUNT), RV(CKR_SESSION_HANDLE_INVALID),
    RV(CKR_SESSION_READ_ONLY), RV(CKR_SIGNATURE_INVALID), RV(CKR_SIGNATURE_LEN_RANGE),
    RV(CKR_TEMPLATE_INCOMPLETE), RV(CKR_TEMPLATE_INCONSISTENT), RV(CKR_TOKEN_NOT_PRESENT),
    RV(CKR_TOKEN_NOT_RECOGNIZED), RV(CKR_TOKEN_WRITE_PROTECTED),
    RV(CKR_UNWRAPPING_KEY_HANDLE_INVALID), RV(CKR_USER_ALREADY_LOGGED_IN),
    RV(CKR_USER_NOT_LOGGED_IN), RV(CKR_USER_PIN_NOT_INITIALIZED),
    RV(CKR_WRAPPED_KEY_INVALID), RV(CKR_WRAPPED_KEY_LEN_RANGE),
    RV(CKR_WRAPPING_KEY_HANDLE_INVALID), RV(CKR_RANDOM_NO_RNG), RV(CKR_BUFFER_TOO_SMALL),
    RV(CKR_CRYPTOKI_NOT_INITIALIZED), RV(CKR_CRYPTOKI_ALREADY_INITIALIZED),
    RV(CKR_FUNCTION_REJECTED),
#undef RV
};

static const char *rv_name(CK_RV rv, char *buf, size_t len) {
    for (size_t i = 0; i < sizeof rv_names / sizeof rv_names[0]; i++) {
        if (rv_names[i].rv == rv) {
            return rv_names[i].name;
        }
    }
    snprintf(buf, len, "0x%lx", rv);
    return buf;
}

/* A point in the call sequence: the n-th call of all (fn < 0), or of one function. */
struct when {
    int set;
    int fn;
    unsigned long n;
};

static struct {
    int configured;
    int log_fd;
    struct when fail;
    struct when abort_at;
    CK_RV fail_rv;
    int fail_after; /* ZEROTH_SHIM_FAIL_MODE=after: the real call is made, its result replaced */
    unsigned long calls;
    unsigned long per_fn[FN_COUNT];
    void *real_lib;
    CK_FUNCTION_LIST_PTR real;
} shim = {.log_fd = -1};

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("zeroth-pkcs11-shim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* Appends one line to the record file, in one write() (O_APPEND), so lines of several
 * processes sharing the file do not interleave. */
static void record(const char *fmt, ...) {
    if (shim.log_fd < 0) {
        return;
    }
    char line[256];
    int len = snprintf(line, sizeof line, "%ld ", (long)getpid());
    va_list ap;
    va_start(ap, fmt);
    len += vsnprintf(line + len, sizeof line - (size_t)len - 1, fmt, ap);
    va_end(ap);
    if (len > (int)sizeof line - 2) {
        len = (int)sizeof line - 2;
    }
    line[len++] = '\n';
    ssize_t w = write(shim.log_fd, line, (size_t)len);
    (void)w;
}

static int fn_by_name(const char *name, size_t len) {
    for (int i = 0; i < FN_COUNT; i++) {
        if (strlen(fn_names[i]) == len && strncmp(fn_names[i], name, len) == 0) {
            return i;
        }
    }
    return -1;
}

/* "N" (the N-th call of all), "C_Name:N" (the N-th call of C_Name) or "C_Name" (its
 * first call). */
static struct when parse_when(const char *var) {
    struct when w = {0, -1, 0};
    const char *v = getenv(var);
    if (v == NULL || *v == '\0') {
        return w;
    }
    w.set = 1;
    const char *colon = strchr(v, ':');
    char *end;
    if (v[0] == 'C' && v[1] == '_') {
        size_t len = colon ? (size_t)(colon - v) : strlen(v);
        w.fn = fn_by_name(v, len);
        if (w.fn < 0) {
            die("%s=%s: no PKCS#11 function of that name", var, v);
        }
        w.n = 1;
        if (colon) {
            w.n = strtoul(colon + 1, &end, 10);
            if (*end != '\0' || w.n == 0) {
                die("%s=%s: the count after ':' must be a number from 1", var, v);
            }
        }
    } else {
        w.n = strtoul(v, &end, 10);
        if (*end != '\0' || w.n == 0) {
            die("%s=%s: give N (from 1), C_Name or C_Name:N", var, v);
        }
    }
    return w;
}

static void configure(void) {
    if (shim.configured) {
        return;
    }
    shim.configured = 1;
    const char *log = getenv("ZEROTH_SHIM_LOG");
    if (log != NULL && *log != '\0') {
        shim.log_fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (shim.log_fd < 0) {
            die("cannot open ZEROTH_SHIM_LOG=%s: %s", log, strerror(errno));
        }
    }
    shim.fail = parse_when("ZEROTH_SHIM_FAIL_AT");
    shim.abort_at = parse_when("ZEROTH_SHIM_ABORT_AT");
    shim.fail_rv = CKR_DEVICE_ERROR;
    const char *rv = getenv("ZEROTH_SHIM_FAIL_RV");
    if (rv != NULL && *rv != '\0') {
        int found = 0;
        for (size_t i = 0; i < sizeof rv_names / sizeof rv_names[0]; i++) {
            if (strcmp(rv_names[i].name, rv) == 0) {
                shim.fail_rv = rv_names[i].rv;
                found = 1;
            }
        }
        if (!found) {
            char *end;
            shim.fail_rv = strtoul(rv, &end, 0);
            if (*end != '\0') {
                die("ZEROTH_SHIM_FAIL_RV=%s: give a CKR_ name or a number", rv);
            }
        }
    }
    const char *mode = getenv("ZEROTH_SHIM_FAIL_MODE");
    if (mode != NULL && *mode != '\0') {
        if (strcmp(mode, "after") == 0) {
            shim.fail_after = 1;
        } else if (strcmp(mode, "before") != 0) {
            die("ZEROTH_SHIM_FAIL_MODE=%s: give before or after", mode);
        }
    }
}

__attribute__((constructor)) static void on_load(void) {
    configure();
    const char *real = getenv("ZEROTH_SHIM_MODULE");
    record("0 load %s", real ? real : "-");
}

static int matches(const struct when *w, int fn, unsigned long n, unsigned long n_fn) {
    if (!w->set) {
        return 0;
    }
    return w->fn < 0 ? w->n == n : (w->fn == fn && w->n == n_fn);
}

/* A call in progress: its number, its function, and the fault to inject, if any. */
struct call {
    int fn;
    unsigned long n;
    int fail;
};

/* Counts the call; aborts if this is the call to abort at. Returns the call, whose
 * `fail` says to return shim.fail_rv without (mode before) or after (mode after)
 * making the real call. */
static struct call call_begin(int fn) {
    configure();
    struct call c;
    c.fn = fn;
    c.n = __atomic_add_fetch(&shim.calls, 1, __ATOMIC_SEQ_CST);
    unsigned long n_fn = __atomic_add_fetch(&shim.per_fn[fn], 1, __ATOMIC_SEQ_CST);
    if (matches(&shim.abort_at, fn, c.n, n_fn)) {
        record("%lu %s abort", c.n, fn_names[fn]);
        fprintf(stderr, "zeroth-pkcs11-shim: aborting at call %lu (%s)\n", c.n, fn_names[fn]);
        abort();
    }
    c.fail = matches(&shim.fail, fn, c.n, n_fn);
    return c;
}

static CK_RV call_end(const struct call *c, CK_RV rv) {
    char buf[32];
    if (c->fail) {
        char real[32];
        const char *was = shim.fail_after ? rv_name(rv, real, sizeof real) : "not-called";
        rv = shim.fail_rv;
        record("%lu %s %s injected %s", c->n, fn_names[c->fn], rv_name(rv, buf, sizeof buf), was);
        return rv;
    }
    record("%lu %s %s", c->n, fn_names[c->fn], rv_name(rv, buf, sizeof buf));
    return rv;
}

static CK_FUNCTION_LIST shim_list;

/* Opens the real module and fetches its function list, once. */
static CK_RV load_real(void) {
    if (shim.real != NULL) {
        return CKR_OK;
    }
    const char *path = getenv("ZEROTH_SHIM_MODULE");
    if (path == NULL || *path == '\0') {
        fprintf(stderr, "zeroth-pkcs11-shim: ZEROTH_SHIM_MODULE names no module to forward to\n");
        return CKR_GENERAL_ERROR;
    }
    shim.real_lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (shim.real_lib == NULL) {
        fprintf(stderr, "zeroth-pkcs11-shim: cannot load %s: %s\n", path, dlerror());
        return CKR_GENERAL_ERROR;
    }
    CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(shim.real_lib, "C_GetFunctionList");
    if (get == NULL) {
        fprintf(stderr, "zeroth-pkcs11-shim: %s exports no C_GetFunctionList\n", path);
        return CKR_GENERAL_ERROR;
    }
    CK_FUNCTION_LIST_PTR list = NULL;
    CK_RV rv = get(&list);
    if (rv != CKR_OK || list == NULL) {
        fprintf(stderr, "zeroth-pkcs11-shim: C_GetFunctionList of %s returned 0x%lx\n", path, rv);
        return rv != CKR_OK ? rv : CKR_GENERAL_ERROR;
    }
    shim.real = list;
    return CKR_OK;
}

#define SHIM_WRAPPER(name, params, args)                                               \
    static CK_RV shim_##name params {                                                  \
        struct call call_ = call_begin(FN_##name);                                     \
        CK_RV rv_ = CKR_OK;                                                            \
        if (!call_.fail || shim.fail_after) {                                          \
            rv_ = shim.real->name == NULL ? CKR_FUNCTION_NOT_SUPPORTED : shim.real->name args; \
        }                                                                              \
        return call_end(&call_, rv_);                                                  \
    }
SHIM_FORWARDED(SHIM_WRAPPER)
#undef SHIM_WRAPPER

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);

static CK_FUNCTION_LIST shim_list = {
    .version = {2, 40},
    .C_GetFunctionList = C_GetFunctionList,
#define SHIM_ENTRY(name, params, args) .name = shim_##name,
    SHIM_FORWARDED(SHIM_ENTRY)
#undef SHIM_ENTRY
};

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
    struct call c = call_begin(FN_C_GetFunctionList);
    CK_RV rv = CKR_OK;
    if (!c.fail || shim.fail_after) {
        if (list == NULL) {
            rv = CKR_ARGUMENTS_BAD;
        } else {
            rv = load_real();
            if (rv == CKR_OK) {
                *list = &shim_list;
            }
        }
    }
    return call_end(&c, rv);
}

/* PKCS#11 3.0's interface discovery, defined here since the 2.40 header lacks it. The
 * shim offers one interface, "PKCS 11" with its 2.40 function list: a caller that asks
 * for the default interface gets that list, sees version 2.40 and uses it as such. */
struct shim_interface {
    unsigned char *name;
    void *functions;
    CK_FLAGS flags;
};

static unsigned char interface_name[] = "PKCS 11";
static struct shim_interface interface = {interface_name, &shim_list, 0};

EXPORT CK_RV C_GetInterfaceList(struct shim_interface *list, unsigned long *count) {
    struct call c = call_begin(FN_C_GetInterfaceList);
    CK_RV rv = CKR_OK;
    if (!c.fail || shim.fail_after) {
        if (count == NULL) {
            rv = CKR_ARGUMENTS_BAD;
        } else if ((rv = load_real()) == CKR_OK) {
            if (list == NULL) {
                *count = 1;
            } else if (*count < 1) {
                *count = 1;
                rv = CKR_BUFFER_TOO_SMALL;
            } else {
                list[0] = interface;
                *count = 1;
            }
        }
    }
    return call_end(&c, rv);
}

EXPORT CK_RV C_GetInterface(unsigned char *name, CK_VERSION_PTR version,
                              struct shim_interface **found, CK_FLAGS flags) {
    struct call c = call_begin(FN_C_GetInterface);
    CK_RV rv = CKR_OK;
    if (!c.fail || shim.fail_after) {
        if (found == NULL) {
            rv = CKR_ARGUMENTS_BAD;
        } else if ((name != NULL && strcmp((const char *)name, "PKCS 11") != 0) ||
                   (version != NULL && (version->major != 2 || version->minor != 40)) ||
                   (flags & ~interface.flags) != 0) {
            /* No interface of that name, version or flags. */
            rv = CKR_ARGUMENTS_BAD;
        } else if ((rv = load_real()) == CKR_OK) {
            *found = &interface;
        }
    }
    return call_end(&c, rv);
}
