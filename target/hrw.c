/*
 * hrw.c - which target owns an object: highest random weight (rendezvous
 * hashing) over the targets' ids, exactly as AIStore computes it
 * (core/meta/hrw.go HrwName2T), so an etlfs cluster and an AIStore client
 * that hashes for itself agree on every owner:
 *
 *   node digest   = XXH64(daemon id, seed MLCG32)        (Snode.setDigest)
 *   object digest = XXH64("ais/@#/BUCKET/OBJECT", MLCG32) (Bck.MakeUname)
 *   weight        = xoshiro256.Hash(node digest ^ object digest)
 *   owner         = the target of the greatest weight
 */
#include "target/target.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MLCG32 1103515245ull /* cos.MLCG32: AIStore's xxhash seed */

uint64_t tgt_hrw_digest(const char *s) { return XXH64(s, strlen(s), MLCG32); }

uint64_t tgt_hrw_obj_digest(const char *bck, const char *obj)
{
    /* the uname of an ais:// bucket in the global namespace ("@#"), put
     * together by hand: every object request hashes one (no printf) */
    static const char ns[] = "ais/@#/";
    size_t nl = sizeof ns - 1, bl = strlen(bck), ol = strlen(obj), len = nl + bl + 1 + ol;
    char stack[1024], *u = len <= sizeof stack ? stack : cmn_xmalloc(len);
    memcpy(u, ns, nl);
    memcpy(u + nl, bck, bl);
    u[nl + bl] = '/';
    memcpy(u + nl + bl + 1, obj, ol);
    uint64_t d = XXH64(u, len, MLCG32);
    if (u != stack)
        free(u);
    return d;
}

/* cmn/xoshiro256.Hash: splitmix64 twice, then xoshiro256**'s scrambler */
uint64_t tgt_hrw_weight(uint64_t seed)
{
    uint64_t z = seed + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z = (z ^ (z >> 31)) + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z = (z ^ (z >> 31)) * 5;
    return ((z << 7) | (z >> 57)) * 9;
}

int tgt_hrw_owner(const uint64_t *node_digests, int n, uint64_t obj_digest)
{
    int best = -1;
    uint64_t max = 0;
    for (int i = 0; i < n; i++) {
        uint64_t w = tgt_hrw_weight(node_digests[i] ^ obj_digest);
        if (best < 0 || w > max) {
            max = w;
            best = i;
        }
    }
    return best;
}
