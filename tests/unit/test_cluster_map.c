/*
 * test_cluster_map.c - the map's versions and the order in which an owner
 * that lacks an object asks its neighbours (the previous map's owner first,
 * then every other target, none twice); and the owner's liveness check
 * that turns a redirect to a dead target into a 503; and readers of the map
 * on several threads while it changes under them (each answer whole, every
 * snapshot freed once: the sanitizers' build checks that); and a member in
 * maintenance: still in the map, flagged, owning nothing.
 */
#include "target/target.h"

#include "check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *owner_of(const char *const *ids, int n, const char *obj)
{
    uint64_t d[8];
    for (int i = 0; i < n; i++)
        d[i] = tgt_hrw_digest(ids[i]);
    return ids[tgt_hrw_owner(d, n, tgt_hrw_obj_digest("b", obj))];
}

static void check_neighbours(const char *const *prev, int nprev, int ncur, const char *obj)
{
    tgt_member *ms;
    int n = tgt_cmap_neighbours("b", obj, &ms);
    CHECK(n == ncur, "%s: %d neighbours, want every member: %d", obj, n, ncur);
    CHECK(n > 0 && !strcmp(ms[0].id, owner_of(prev, nprev, obj)), "%s: asks %s first, the previous owner is %s", obj,
          n ? ms[0].id : "none", owner_of(prev, nprev, obj));
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            CHECK(strcmp(ms[i].id, ms[j].id), "%s: %s asked twice", obj, ms[i].id);
    free(ms);
}

static void test_versions_and_neighbours(void)
{
    static const char *const two[] = {"t1", "t2"}, *const three[] = {"t1", "t2", "t3"};
    tgt_cmap_put("t1", "http://h1", 10);
    tgt_cmap_put("t2", "http://h2", 11);
    tgt_member *m;
    int64_t v;
    int n = tgt_cmap_members(&m, &v);
    free(m);
    CHECK(n == 2 && v == 11, "two members at v11: %d at v%lld", n, (long long)v);
    tgt_cmap_put("t2", "http://h2", 15); /* a re-registration: no change */
    tgt_cmap_members(&m, &v);
    free(m);
    CHECK(v == 11, "the same member again is no new version: v%lld", (long long)v);
    tgt_cmap_put("t3", "http://h3", 20);
    CHECK(tgt_cmap_changed_ns() > 0, "the change is timed");
    char obj[32];
    int moved = 0;
    for (int k = 0; k < 300; k++) {
        snprintf(obj, sizeof obj, "o-%d", k);
        check_neighbours(two, 2, 3, obj);
        tgt_member o;
        /* this process is no member (its id is ""): every object is elsewhere */
        CHECK(tgt_cmap_owner("b", obj, &o) && !strcmp(o.id, owner_of(three, 3, obj)), "%s: owner %s", obj, o.id);
        moved += strcmp(owner_of(two, 2, obj), owner_of(three, 3, obj)) != 0;
    }
    /* a join moves about a third of the objects, all to the newcomer */
    CHECK(moved > 60 && moved < 140, "a third moved: %d of 300", moved);
    tgt_cmap_del("t3", 25);
    tgt_cmap_members(&m, &v);
    free(m);
    CHECK(v == 25, "a leave is a new version: v%lld", (long long)v);
    for (int k = 0; k < 50; k++) {
        snprintf(obj, sizeof obj, "o-%d", k);
        /* t3's objects: asked of t3 first (it may be back), then t1, t2 */
        tgt_member *ms;
        int nn = tgt_cmap_neighbours("b", obj, &ms);
        CHECK(nn >= 2 && !strcmp(ms[0].id, owner_of(three, 3, obj)), "%s after the leave: first %s", obj,
              nn ? ms[0].id : "none");
        free(ms);
    }
    tgt_member same[2] = {{.id = "t1"}, {.id = "t2"}};
    snprintf(same[0].url, sizeof same[0].url, "http://h1");
    snprintf(same[1].url, sizeof same[1].url, "http://h2");
    tgt_member *copy = malloc(sizeof same);
    memcpy(copy, same, sizeof same);
    tgt_cmap_reset(copy, 2, 30);
    tgt_cmap_members(&m, &v);
    free(m);
    CHECK(v == 25, "a fresh read of the same members is no new version: v%lld", (long long)v);
}

static int64_t version(void)
{
    tgt_member *m;
    int64_t v;
    tgt_cmap_members(&m, &v);
    free(m);
    return v;
}

/* After test_versions_and_neighbours: t1, t2 at v25. */
static void test_maintenance(void)
{
    static const char *const three[] = {"t1", "t2", "t3"}, *const others[] = {"t1", "t3"};
    tgt_cmap_put("t3", "http://h3", 40);
    tgt_cmap_flags("t2", TGT_SNODE_MAINT, 41);
    CHECK(version() == 41, "maintenance is a new version: v%lld", (long long)version());
    tgt_member t2;
    CHECK(tgt_cmap_member("t2", &t2) && t2.flags == TGT_SNODE_MAINT, "t2 stays a member, flagged: %d", t2.flags);
    char obj[32];
    int was_t2 = 0;
    for (int k = 0; k < 300; k++) {
        snprintf(obj, sizeof obj, "o-%d", k);
        tgt_member o;
        CHECK(tgt_cmap_owner("b", obj, &o) && !strcmp(o.id, owner_of(others, 2, obj)), "%s: owner %s, want %s", obj,
              o.id, owner_of(others, 2, obj));
        if (strcmp(owner_of(three, 3, obj), "t2"))
            continue;
        was_t2++; /* its new owner asks t2 first: it still holds it */
        tgt_member *ms;
        int n = tgt_cmap_neighbours("b", obj, &ms);
        CHECK(n == 3 && !strcmp(ms[0].id, "t2"), "%s: asks %s first, want t2", obj, n ? ms[0].id : "none");
        free(ms);
    }
    CHECK(was_t2 > 60, "t2 owned a third: %d", was_t2);
    tgt_cmap_flags("t9", TGT_SNODE_MAINT, 42); /* no member: kept, no new version */
    CHECK(version() == 41, "a flag of a non-member is no new version: v%lld", (long long)version());
    tgt_cmap_put("t9", "http://h9", 43);
    tgt_member t9;
    CHECK(tgt_cmap_member("t9", &t9) && t9.flags == TGT_SNODE_MAINT, "t9 joins in maintenance: %d", t9.flags);
    tgt_cmap_del("t9", 44);
    tgt_cmap_flags("t2", 0, 45);
    CHECK(version() == 45 && tgt_cmap_member("t2", &t2) && !t2.flags, "out of maintenance: v%lld, flags %d",
          (long long)version(), t2.flags);
    for (int k = 0; k < 100; k++) {
        snprintf(obj, sizeof obj, "o-%d", k);
        tgt_member o;
        CHECK(tgt_cmap_owner("b", obj, &o) && !strcmp(o.id, owner_of(three, 3, obj)), "%s: owner %s again", obj,
              o.id);
    }
    /* a fresh read that finds t3 flagged is a change; the same again is not */
    char *ids[] = {"t3"};
    int flags[] = {TGT_SNODE_MAINT | TGT_SNODE_DECOMM};
    tgt_cmap_flags_reset(ids, flags, 1);
    tgt_member *all = calloc(3, sizeof *all);
    for (int i = 0; i < 3; i++) {
        snprintf(all[i].id, sizeof all[i].id, "%s", three[i]);
        snprintf(all[i].url, sizeof all[i].url, "http://h%d", i + 1);
    }
    tgt_member *again = malloc(3 * sizeof *again);
    memcpy(again, all, 3 * sizeof *again);
    tgt_cmap_reset(all, 3, 50);
    CHECK(version() == 50, "a read with a new flag is a new version: v%lld", (long long)version());
    tgt_cmap_reset(again, 3, 51);
    CHECK(version() == 50, "the same read again is none: v%lld", (long long)version());
    tgt_cmap_flags("t3", 0, 52);
    CHECK(version() == 52 && tgt_cmap_member("t3", &t2) && !t2.flags, "t3's key deleted: v%lld, flags %d",
          (long long)version(), t2.flags);
}

static void test_reachable(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    CHECK(bind(s, (struct sockaddr *)&a, sizeof a) == 0 && listen(s, 4) == 0 &&
              getsockname(s, (struct sockaddr *)&a, &al) == 0,
          "a listening socket");
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(a.sin_port));
    cmn_err err = {0};
    CHECK(tgt_cluster_reachable("t9", url, &err) == 0, "a listening target is reachable: %s", err.msg);
    close(s);
    /* closed now: the success is trusted a moment, then the probe says so */
    usleep(300 * 1000);
    int rc = tgt_cluster_reachable("t9", url, &err);
    CHECK(rc == -EAGAIN && strstr(err.msg, "t9") && strstr(err.msg, url), "a dead target: %d %s", rc, err.msg);
    CHECK(tgt_cluster_reachable("t8", "http://127.0.0.1:1", &err) == -EAGAIN, "nothing on port 1");
}

#define READERS 4
#define LOOKUPS 20000
#define CHANGES 100

static void *reader(void *arg)
{
    long bad = 0;
    char obj[32];
    for (int k = 0; k < LOOKUPS; k++) {
        snprintf(obj, sizeof obj, "r-%d", k);
        tgt_member o;
        char url[32];
        /* each member's URL is "http://h" + the digit of its id: a torn read shows */
        if (!tgt_cmap_owner("b", obj, &o) || (snprintf(url, sizeof url, "http://h%s", o.id + 1), strcmp(url, o.url)))
            bad++;
    }
    *(long *)arg = bad;
    return NULL;
}

static void test_readers_while_it_changes(void)
{
    int64_t v0, v;
    tgt_member *m;
    tgt_cmap_members(&m, &v0);
    free(m);
    pthread_t th[READERS];
    long bad[READERS];
    for (int i = 0; i < READERS; i++)
        pthread_create(&th[i], NULL, reader, &bad[i]);
    for (int c = 0; c < CHANGES; c++) {
        tgt_cmap_put("t3", "http://h3", 1000 + 2 * c);
        tgt_cmap_del("t3", 1001 + 2 * c);
    }
    for (int i = 0; i < READERS; i++) {
        pthread_join(th[i], NULL);
        CHECK(bad[i] == 0, "reader %d: %ld answers not whole", i, bad[i]);
    }
    int n = tgt_cmap_members(&m, &v);
    free(m);
    CHECK(n == 2 && v == 1001 + 2 * (CHANGES - 1), "%d members at v%lld after %d joins and leaves (from v%lld)", n,
          (long long)v, CHANGES, (long long)v0);
}

int main(void)
{
    test_versions_and_neighbours();
    test_maintenance();
    test_readers_while_it_changes();
    test_reachable();
    return CHECK_RESULT();
}
