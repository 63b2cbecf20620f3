/*
 * mtatls/plugin.h - the mtatls plugin ABI, version 1.
 *
 * This is the only header a host MTA needs to load mtatls.so.  It is plain
 * C99 (usable from C++), needs neither OpenSSL nor libmilter, and is frozen
 * in the libmilter manner: numbers never change, structs and hook ids are
 * only ever appended to.  Every struct that crosses the boundary starts with
 * its own size so either side can tell how much of it the other knows.
 *
 * Lifecycle, in short (docs/abi.md has the long form):
 *   1. The host dlopen()s the module and calls mtatls_plugin_init() with a
 *      filled mtatls_host_api.
 *   2. The module checks the host's version and size, then calls
 *      host->announce() with its own mtatls_module_info; the host checks the
 *      module's version, size and build signature and may refuse.
 *   3. Only after an accepted announce does the module call
 *      host->register_hook() once per hook it implements, each with a
 *      closure the host passes back on every call.
 *   4. The host calls MTATLS_HOOK_CONFIG_LOAD, then the connection hooks per
 *      delivery attempt, and MTATLS_HOOK_UNLOAD before dlclose().
 *
 * No hook ever lets a C++ exception, longjmp or signal escape into the host.
 */
#ifndef MTATLS_PLUGIN_H
#define MTATLS_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Versioning -------------------------------------------------------- */

#define MTATLS_ABI_MAJOR 1 /* incompatible changes only; never expected */
#define MTATLS_ABI_MINOR 1 /* appended fields and hooks; 1: MACRO_LIST */

/* The build signature packs what must agree between host and module for
 * the two to share a process: pointer size and OpenSSL major version (two
 * OpenSSL majors in one process corrupt each other's global state). */
#define MTATLS_BUILD_SIGNATURE(pointer_size, openssl_major)                                        \
    ((uint32_t)(((uint32_t)(pointer_size) << 16) | ((uint32_t)(openssl_major)&0xffffu)))
#define MTATLS_SIGNATURE_POINTER_SIZE(sig) ((unsigned)((sig) >> 16))
#define MTATLS_SIGNATURE_OPENSSL_MAJOR(sig) ((unsigned)((sig)&0xffffu))

/* The one symbol a module exports. */
#define MTATLS_PLUGIN_ENTRY_SYMBOL "mtatls_plugin_init"

/* ---- Verdicts (what a hook says about the delivery attempt) ------------ */
/* Numerically equal to libmilter's SMFIS_* so milter-minded hosts can pass
 * them through unchanged; tests static_assert the equality. */
typedef enum mtatls_verdict {
    MTATLS_VERDICT_CONTINUE = 0, /* SMFIS_CONTINUE: go on */
    MTATLS_VERDICT_REJECT = 1,   /* SMFIS_REJECT: permanent failure */
    MTATLS_VERDICT_TEMPFAIL = 4  /* SMFIS_TEMPFAIL: try again later */
} mtatls_verdict;

/* ---- Call status (whether a call itself worked) ------------------------ */
/* A separate set from verdicts, starting at 100 so the two cannot be
 * confused by accident. */
typedef enum mtatls_status {
    MTATLS_STATUS_OK = 0,
    MTATLS_STATUS_ERROR = 100,        /* failed; a diagnostic says why */
    MTATLS_STATUS_CONFIG = 101,       /* configuration invalid */
    MTATLS_STATUS_NOT_FOUND = 102,    /* unknown name (macro, hook, ...) */
    MTATLS_STATUS_TOO_SMALL = 103,    /* caller's buffer too small */
    MTATLS_STATUS_VERSION = 104,      /* ABI major mismatch */
    MTATLS_STATUS_BAD_ARGUMENT = 105, /* NULL, short struct, bad id */
    MTATLS_STATUS_ALREADY = 106,      /* already initialised/registered */
    MTATLS_STATUS_NO_MEMORY = 107,
    MTATLS_STATUS_INTERNAL = 108, /* a bug; never a crash */
    MTATLS_STATUS_REFUSED = 109   /* the host refused the module */
} mtatls_status;

/* ---- Non-blocking progress and I/O results ----------------------------- */
typedef enum mtatls_step {
    MTATLS_STEP_DONE = 0,       /* finished; call the matching finish hook */
    MTATLS_STEP_WANT_READ = 1,  /* wait until the socket is readable */
    MTATLS_STEP_WANT_WRITE = 2, /* wait until the socket is writable */
    MTATLS_STEP_FAILED = 3      /* finished badly; finish hook says why */
} mtatls_step;

typedef enum mtatls_io {
    MTATLS_IO_OK = 0,
    MTATLS_IO_WANT_READ = 1,
    MTATLS_IO_WANT_WRITE = 2,
    MTATLS_IO_EOF = 3,  /* peer closed the TLS session cleanly */
    MTATLS_IO_ERROR = 4 /* fatal; the connection is unusable */
} mtatls_io;

/* ---- Diagnostics --------------------------------------------------------- */
typedef enum mtatls_severity {
    MTATLS_SEVERITY_ERROR = 0,
    MTATLS_SEVERITY_WARNING = 1,
    MTATLS_SEVERITY_NOTE = 2
} mtatls_severity;

typedef struct mtatls_diagnostic {
    uint32_t struct_size;
    int severity;        /* mtatls_severity */
    const char* file;    /* NULL when not about a file */
    uint32_t line;       /* 1-based; 0 when unknown */
    uint32_t column;     /* 1-based; 0 when unknown */
    const char* scope;   /* e.g. binding "b1" / domain "x.example"; may be NULL */
    const char* message; /* one line, no trailing newline */
} mtatls_diagnostic;

/* Where a hook sends its diagnostics.  Strings are valid only during the
 * call. */
typedef struct mtatls_diag_sink {
    void* arg;
    void (*emit)(void* arg, const mtatls_diagnostic* diagnostic);
} mtatls_diag_sink;

/* Receives text (a schema, a converted configuration) in pieces. */
typedef void (*mtatls_text_fn)(void* arg, const char* text, size_t length);

/* ---- Replies to the host ------------------------------------------------- */
/* What the host should report for the attempt when a verdict is not
 * CONTINUE: e.g. 451 / "4.7.5" / "[internal] TLS negotiation failed". */
typedef struct mtatls_reply {
    uint32_t struct_size;
    int smtp_code;     /* 0 when there is nothing to say */
    char enhanced[16]; /* "4.7.5", NUL-terminated */
    char text[512];    /* NUL-terminated, control bytes already escaped */
} mtatls_reply;

/* ---- Module description (module -> host, in announce) ------------------- */
typedef struct mtatls_module_info {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t build_signature; /* MTATLS_BUILD_SIGNATURE() of the module */
    const char* name;         /* "mtatls" */
    const char* version;      /* "0.1.0" */
} mtatls_module_info;

/* ---- Hooks ---------------------------------------------------------------- */
/* Ids are frozen; new hooks get new numbers. */
typedef enum mtatls_hook_id {
    MTATLS_HOOK_CONFIG_LOAD = 1,      /* mtatls_config_load_fn */
    MTATLS_HOOK_CONFIG_EXPLAIN = 2,   /* mtatls_config_explain_fn */
    MTATLS_HOOK_CONFIG_EXPORT = 3,    /* mtatls_config_export_fn */
    MTATLS_HOOK_CONFIG_SCHEMA = 4,    /* mtatls_config_schema_fn */
    MTATLS_HOOK_CONN_SETUP = 10,      /* mtatls_conn_setup_fn */
    MTATLS_HOOK_EHLO = 11,            /* mtatls_ehlo_fn */
    MTATLS_HOOK_STARTTLS_BEGIN = 12,  /* mtatls_starttls_begin_fn */
    MTATLS_HOOK_STARTTLS_STEP = 13,   /* mtatls_starttls_step_fn */
    MTATLS_HOOK_STARTTLS_FINISH = 14, /* mtatls_starttls_finish_fn */
    MTATLS_HOOK_TLS_READ = 15,        /* mtatls_tls_read_fn */
    MTATLS_HOOK_TLS_WRITE = 16,       /* mtatls_tls_write_fn */
    MTATLS_HOOK_TLS_SHUTDOWN = 17,    /* mtatls_tls_shutdown_fn */
    MTATLS_HOOK_MACRO_LOOKUP = 18,    /* mtatls_macro_lookup_fn */
    MTATLS_HOOK_CONN_END = 19,        /* mtatls_conn_end_fn */
    MTATLS_HOOK_UNLOAD = 20,          /* mtatls_unload_fn */
    MTATLS_HOOK_MACRO_LIST = 21       /* mtatls_macro_list_fn (ABI 1.1) */
} mtatls_hook_id;
#define MTATLS_HOOK_ID_LIMIT 32 /* ids are below this; hosts may size tables by it */

/* A generic function pointer; register_hook() casts back by hook id. */
typedef void (*mtatls_hook_fn)(void);

/* Opaque per-attempt state owned by the module. */
typedef struct mtatls_conn mtatls_conn;

/* (binding_group, binding, domain) selects a policy.  NULL or "" means
 * "none given": no binding means the binding named "default". */
typedef struct mtatls_policy_key {
    uint32_t struct_size;
    const char* binding_group;
    const char* binding;
    const char* domain;
} mtatls_policy_key;

/* One effective directive, as `mtatls-config eval` prints it. */
typedef struct mtatls_explain_entry {
    uint32_t struct_size;
    const char* name;  /* directive name, lower case */
    const char* value; /* effective value as text */
    const char* scope; /* "global", "binding \"b\" / domain \"d\"", or "default" */
    const char* file;  /* NULL for built-in defaults */
    uint32_t line;
    uint32_t column;
} mtatls_explain_entry;
typedef void (*mtatls_explain_fn)(void* arg, const mtatls_explain_entry* entry);

typedef struct mtatls_conn_params {
    uint32_t struct_size;
    mtatls_policy_key policy; /* whose policy applies */
    const char* mx_host;      /* MX host name (SNI, name checks); may be an IP literal */
    const char* peer_address; /* numeric address connected to */
    uint16_t peer_port;
    uint32_t flags; /* MTATLS_CONN_* bits (ABI 1.0; hosts zero it) */
} mtatls_conn_params;

/* conn_params.flags */
/* This connection is the plaintext retry that a failed opportunistic
 * negotiation allowed (*retry_plaintext was set): the module answers
 * PLAINTEXT at EHLO and records the fallback for the logs. */
#define MTATLS_CONN_PLAINTEXT_RETRY 0x1u

/* What the module concluded from an EHLO reply. */
typedef enum mtatls_next_step {
    MTATLS_NEXT_PLAINTEXT = 0, /* carry on without TLS */
    MTATLS_NEXT_STARTTLS = 1   /* send "STARTTLS\r\n" and nothing else */
} mtatls_next_step;

typedef struct mtatls_ehlo_result {
    uint32_t struct_size;
    int next;                /* mtatls_next_step, valid with VERDICT_CONTINUE */
    int starttls_advertised; /* boolean */
} mtatls_ehlo_result;

/* Load or reload a configuration file.  Atomic: on failure the previous
 * configuration stays in force and every problem goes to `diag`. */
typedef int (*mtatls_config_load_fn)(void* closure, const char* path, const mtatls_diag_sink* diag);
/* Report every effective directive for `key` under the loaded
 * configuration, in a fixed order. */
typedef int (*mtatls_config_explain_fn)(void* closure, const mtatls_policy_key* key,
                                        mtatls_explain_fn each, void* arg,
                                        const mtatls_diag_sink* diag);
/* Parse `path` (either syntax) and write it out in the native YAML form. */
typedef int (*mtatls_config_export_fn)(void* closure, const char* path, mtatls_text_fn out,
                                       void* arg, const mtatls_diag_sink* diag);
/* Write the JSON Schema of the native configuration format. */
typedef int (*mtatls_config_schema_fn)(void* closure, mtatls_text_fn out, void* arg);

/* Start a delivery attempt: resolves the policy, returns the module's
 * per-attempt state in *conn.  *conn is NULL when the verdict is not
 * CONTINUE; the reply then says why. */
typedef int (*mtatls_conn_setup_fn)(void* closure, const mtatls_conn_params* params,
                                    mtatls_conn** conn, mtatls_reply* reply);
/* Parse the raw bytes of a complete EHLO reply and decide about STARTTLS.
 * Called for the first EHLO (also when the server refused it: the verdict
 * says whether a HELO may follow) and again for the EHLO sent over TLS,
 * which then answers PLAINTEXT, meaning "carry on over the session".  A
 * malformed reply is a TEMPFAIL with a protocol-error reply. */
typedef int (*mtatls_ehlo_fn)(void* closure, mtatls_conn* conn, const char* reply_bytes,
                              size_t length, mtatls_ehlo_result* result, mtatls_reply* reply);
/* Check the raw reply to STARTTLS (and that nothing follows it), then take
 * over `fd` for the handshake.  `reply_bytes` is EVERYTHING the host has
 * read since it sent STARTTLS.  The module puts `fd` in non-blocking mode;
 * the host must not read or write `fd` itself again, but still owns it and
 * closes it after CONN_END.
 * On TEMPFAIL with *retry_plaintext set (a refusal under ifavailable with
 * tls_ifavailable_fallback), the host may retry without TLS on a NEW
 * connection. */
typedef int (*mtatls_starttls_begin_fn)(void* closure, mtatls_conn* conn, int fd,
                                        const char* reply_bytes, size_t length, mtatls_reply* reply,
                                        int* retry_plaintext);
/* Advance the handshake; never blocks.  Returns an mtatls_step: on
 * WANT_READ/WANT_WRITE poll `fd` and call again (the host owns every
 * deadline); on DONE or FAILED call STARTTLS_FINISH. */
typedef int (*mtatls_starttls_step_fn)(void* closure, mtatls_conn* conn);
/* Apply policy to the finished handshake.  A host whose handshake deadline
 * passed calls it before the handshake is done: that counts as a failed
 * negotiation (a timeout).  On TEMPFAIL with
 * *retry_plaintext set, the host may retry at once without TLS on a NEW
 * connection (tls_ifavailable_fallback). */
typedef int (*mtatls_starttls_finish_fn)(void* closure, mtatls_conn* conn, mtatls_reply* reply,
                                         int* retry_plaintext);
/* TLS I/O after a successful finish; each returns an mtatls_io and never
 * blocks.  READ gives EOF only for a clean close_notify; a close without
 * it is ERROR (a truncation).  WRITE may write part of the buffer (*done);
 * after WANT_* repeat it with the same remaining bytes. */
typedef int (*mtatls_tls_read_fn)(void* closure, mtatls_conn* conn, void* buffer, size_t size,
                                  size_t* done);
typedef int (*mtatls_tls_write_fn)(void* closure, mtatls_conn* conn, const void* buffer,
                                   size_t size, size_t* done);
/* Send close_notify (without waiting for the peer's); returns an
 * mtatls_io, WANT_* meaning "call again when the socket is ready". */
typedef int (*mtatls_tls_shutdown_fn)(void* closure, mtatls_conn* conn);
/* Copy the value of macro `name` into `buffer` (NUL-terminated); *length
 * receives the value's length, also when the buffer is too small. */
typedef int (*mtatls_macro_lookup_fn)(void* closure, mtatls_conn* conn, const char* name,
                                      char* buffer, size_t size, size_t* length);
/* Receives one name per call (valid during the call only). */
typedef void (*mtatls_name_fn)(void* arg, const char* name);
/* Lists the macros whose values are first known after hook `stage`
 * (MTATLS_HOOK_CONN_SETUP, MTATLS_HOOK_EHLO or MTATLS_HOOK_STARTTLS_FINISH),
 * or every macro for stage 0, so a host can ask for them up front as
 * libmilter's smfi_setsymlist does.  Returns an mtatls_status. */
typedef int (*mtatls_macro_list_fn)(void* closure, int stage, mtatls_name_fn each, void* arg);
/* The attempt is over; the module frees `conn`. */
typedef void (*mtatls_conn_end_fn)(void* closure, mtatls_conn* conn);
/* The host is about to dlclose(); the module frees every closure. */
typedef void (*mtatls_unload_fn)(void* closure);

/* ---- Host API (host -> module, in mtatls_plugin_init) -------------------- */
typedef struct mtatls_host_api {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t build_signature; /* MTATLS_BUILD_SIGNATURE() of the host */
    void* host_context;       /* passed back on every call below */
    /* The module describes itself; anything but MTATLS_STATUS_OK means the
     * host refuses it and the module must register nothing. */
    int (*announce)(void* host_context, const mtatls_module_info* info);
    /* Register `fn` (of the type for `hook`) with `closure`.  A host
     * answers MTATLS_STATUS_NOT_FOUND for a hook id it does not know (a
     * newer module's); the module then carries on without that hook. */
    int (*register_hook)(void* host_context, int hook, mtatls_hook_fn fn, void* closure);
    /* A one-line message for the host's log. */
    void (*log)(void* host_context, int severity, const char* message);
} mtatls_host_api;

/* The exported entry.  Returns an mtatls_status. */
typedef int (*mtatls_plugin_init_fn)(const mtatls_host_api* host);

#ifdef __cplusplus
}
#endif

#endif /* MTATLS_PLUGIN_H */
