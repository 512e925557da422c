/*
 * test_hrw.c - object placement is AIStore's. The vectors were computed with
 * AIStore's own Python SDK algorithm (python/aistore/sdk/types.py
 * Smap.get_target_for_object and sdk/utils.py get_digest, xoshiro256_hash at
 * commit 583e7729, run with python3-xxhash), which AIStore checks against its
 * Go HrwName2T (python/tests/unit/sdk/hrw/scenario_gen.go): three targets
 * with the ids below, objects "obj-K" in bucket ais://bck.
 */
#include "target/target.h"

#include "check.h"

#include <string.h>

static const char *const ids[] = {"QxSgwjXz", "tWnPAyvq", "GtKpchfE"};
static const uint64_t id_digests[] = {0x16929a6e5c21e147ull, 0x8ee18d82cff682cbull, 0x30ad5ff7dadf6db2ull};

static const struct {
    const char *obj;
    uint64_t digest;
    const char *owner;
} vectors[] = {
    {"obj-0", 0xc157db142d382b5eULL, "tWnPAyvq"},  {"obj-1", 0xd8f3fa4bb4433dceULL, "tWnPAyvq"},
    {"obj-2", 0xdbe11b6c9b8a0493ULL, "QxSgwjXz"},  {"obj-3", 0x1e74ea3fbe2efd04ULL, "GtKpchfE"},
    {"obj-4", 0xf7ded150762c90feULL, "QxSgwjXz"},  {"obj-5", 0xc16faf2505c84d82ULL, "QxSgwjXz"},
    {"obj-6", 0x40507b1b5ab91615ULL, "GtKpchfE"},  {"obj-7", 0x9a28a7bbda8813c3ULL, "tWnPAyvq"},
    {"obj-8", 0x85b2bfa6679b3d6aULL, "GtKpchfE"},  {"obj-9", 0xb9d333bc663b1c78ULL, "QxSgwjXz"},
    {"obj-10", 0x6315695366941337ULL, "QxSgwjXz"}, {"obj-11", 0x1139bc0e832d5724ULL, "GtKpchfE"},
};

int main(void)
{
    uint64_t d[3];
    for (int i = 0; i < 3; i++) {
        d[i] = tgt_hrw_digest(ids[i]);
        CHECK(d[i] == id_digests[i], "digest of %s: %016llx", ids[i], (unsigned long long)d[i]);
    }
    /* xoshiro256.Hash of 0 and 1 */
    CHECK(tgt_hrw_weight(0) == 0x1a70a846bd9cc2a9ull, "weight(0)");
    CHECK(tgt_hrw_weight(1) == 0xc5883e370b0926c3ull, "weight(1)");
    for (size_t k = 0; k < sizeof vectors / sizeof vectors[0]; k++) {
        uint64_t od = tgt_hrw_obj_digest("bck", vectors[k].obj);
        CHECK(od == vectors[k].digest, "uname digest of %s: %016llx", vectors[k].obj, (unsigned long long)od);
        int o = tgt_hrw_owner(d, 3, od);
        CHECK(o >= 0 && !strcmp(ids[o], vectors[k].owner), "owner of %s: %s, AIStore says %s", vectors[k].obj,
              o >= 0 ? ids[o] : "none", vectors[k].owner);
    }
    /* the owner does not depend on the order the targets are listed in */
    uint64_t rev[3] = {d[2], d[1], d[0]};
    int o = tgt_hrw_owner(rev, 3, tgt_hrw_obj_digest("bck", "obj-3"));
    CHECK(o == 0, "obj-3 stays on GtKpchfE listed first, got %d", o);
    CHECK(tgt_hrw_owner(d, 0, 1) == -1, "no targets, no owner");
    return CHECK_RESULT();
}
