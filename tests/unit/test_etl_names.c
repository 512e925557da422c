/* ETL names follow the seed document: letter first; letters, digits, '_'
 * and '-'; 6 to 20 characters. Each refusal names the broken rule. */
#include "etl/etl_int.h"

#include <stdio.h>
#include <string.h>

static int failures;

static void check(const char *name, bool want, const char *why_has)
{
    char why[256] = "";
    bool got = etl_name_valid(name, why, sizeof why);
    if (got != want || (!want && why_has && !strstr(why, why_has))) {
        fprintf(stderr, "FAIL: \"%s\": got %d (%s), want %d (%s)\n", name ? name : "(null)", got, why, want,
                why_has ? why_has : "");
        failures++;
    }
}

int main(void)
{
    check("etl-md5", true, NULL);
    check("abcdef", true, NULL);
    check("A_b-c_9", true, NULL);
    check("abcdefghijklmnopqrst", true, NULL); /* 20 */
    check("abcdefghijklmnopqrstu", false, "too long");
    check("abcde", false, "too short");
    check("", false, "empty");
    check(NULL, false, "empty");
    check("1abcdef", false, "start with a letter");
    check("-abcdef", false, "start with a letter");
    check("abc.def", false, "letters, digits");
    check("abc def", false, "letters, digits");
    check("abc/def", false, "letters, digits");
    check("etl_md5é", false, "letters, digits");
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures != 0;
}
