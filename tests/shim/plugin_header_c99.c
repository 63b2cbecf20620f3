/* plugin_header_c99.c - proves the public header compiles as strict C99
 * without OpenSSL or libmilter; the build compiles it with -std=c99
 * -pedantic -Werror and links nothing from it. */
#include <mtatls/plugin.h>

int mtatls_header_compiles_as_c99(void);
int mtatls_header_compiles_as_c99(void) {
    mtatls_reply reply = {sizeof(mtatls_reply), 0, {0}, {0}};
    return reply.smtp_code + MTATLS_VERDICT_TEMPFAIL;
}
