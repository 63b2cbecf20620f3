/* fake_module.c - deliberately broken plugins for the loader's refusal
 * tests.  One source, built once per FAKE_* variant:
 *   FAKE_MAJOR=2        announces ABI major 2
 *   FAKE_SHORT_INFO     announces a module-info struct that is too short
 *   FAKE_SIGNATURE      announces a build for another OpenSSL major
 *   FAKE_NO_ENTRY       exports no entry symbol at all
 */
#include <mtatls/plugin.h>

#ifndef FAKE_MAJOR
#define FAKE_MAJOR MTATLS_ABI_MAJOR
#endif

#ifdef FAKE_NO_ENTRY
__attribute__((visibility("default"))) int not_an_entry(void);
int not_an_entry(void) { return 0; }
#else
__attribute__((visibility("default"))) int mtatls_plugin_init(const mtatls_host_api* host);
int mtatls_plugin_init(const mtatls_host_api* host) {
    mtatls_module_info info = {0};
    info.struct_size = sizeof info;
    info.abi_major = FAKE_MAJOR;
    info.abi_minor = 0;
    info.build_signature = MTATLS_BUILD_SIGNATURE(sizeof(void*), 3);
    info.name = "fake";
    info.version = "0";
#ifdef FAKE_SHORT_INFO
    info.struct_size = 8;
#endif
#ifdef FAKE_SIGNATURE
    info.build_signature = MTATLS_BUILD_SIGNATURE(sizeof(void*), 1);
#endif
    return host->announce(host->host_context, &info);
}
#endif
