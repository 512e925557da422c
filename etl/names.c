/*
 * names.c - which ETL names are acceptable: the user-facing rule of the seed
 * document (letter first; letters, digits, '_' and '-'; 6 to 20 characters).
 * Names become folder names under the state directory, so nothing else passes.
 */
#include "etl/etl_int.h"

#include <stdio.h>
#include <string.h>

#include <stdarg.h>

__attribute__((format(printf, 3, 4))) static bool fail(char *why, size_t whylen, const char *fmt, ...)
{
    if (why && whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return false;
}

bool etl_name_valid(const char *name, char *why, size_t whylen)
{
    if (!name || !*name)
        return fail(why, whylen, "ETL name is empty");
    size_t len = strlen(name);
    char c = name[0];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
        return fail(why, whylen, "ETL name \"%.64s\" is invalid: must start with a letter", name);
    for (size_t i = 0; i < len; i++) {
        c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '-';
        if (!ok)
            return fail(why, whylen,
                        "ETL name \"%.64s\" is invalid: may only contain letters, digits, '_' and '-' "
                        "(character %zu is not)",
                        name, i + 1);
    }
    if (len < ETL_NAME_MIN)
        return fail(why, whylen, "ETL name \"%.64s\" is too short: must be 6 to 20 characters (has %zu)", name,
                    len);
    if (len > ETL_NAME_MAX)
        return fail(why, whylen, "ETL name \"%.64s\" is too long: must be 6 to 20 characters (has %zu)", name,
                    len);
    return true;
}
