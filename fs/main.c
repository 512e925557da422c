/*
 * main.c - `etlfs --endpoint URL MOUNTPOINT [-f] [-o opts]`: parses our options
 * (fuse_opt, so they also work as -o key=value from mount(8) and fstab), then
 * hands the rest to libfuse (foreground, debug, mount) and runs the request
 * loop: loop.c's, or libfuse's single-threaded one with -s.
 */
#include "fs/fs.h"

#include "common/ais_client.h"

#include <fuse3/fuse_lowlevel.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

fs_config fs_cfg = {
    .attr_timeout = 1.0,
    .entry_timeout = 1.0,
    .fqn = 1,
    .mem_limit = 64u << 20,
    .copy_batch = 1024,
    .etl_readahead = 4,
    .read_ahead_kb = 512, /* a READ of 512 KiB and its header fit libfuse's pipe at pipe-max-size (1 MiB): spliced */
    .negative_timeout = 0, /* off: it spares cp nothing (O_EXCL asks again), and views learn of a name late */
};

struct cli {
    char *endpoint;
    char *spool;
    char *fqn;
    char *attr;
    char *entry;
    char *mem;
    char *batch;
    char *max_size;
    char *metrics;
    char *token;
    char *token_file;
    char *readahead;
    char *keep;
    char *negative;
    char *threads;
    char *ra_kb;
    int help;
    int version;
};

#define OPT(t, f) {t, offsetof(struct cli, f), 1}
static const struct fuse_opt cli_opts[] = {
    OPT("--endpoint %s", endpoint), OPT("--endpoint=%s", endpoint), OPT("endpoint=%s", endpoint),
    OPT("spool_dir=%s", spool),     OPT("--spool-dir=%s", spool),    OPT("fqn=%s", fqn),
    OPT("attr_timeout=%s", attr),   OPT("entry_timeout=%s", entry),  OPT("mem_limit=%s", mem),
    OPT("copy_batch=%s", batch),    OPT("max_object_size=%s", max_size), OPT("metrics_file=%s", metrics),
    OPT("token=%s", token),         OPT("token_file=%s", token_file),
    OPT("--token-file=%s", token_file), OPT("--token-file %s", token_file), OPT("etl_readahead=%s", readahead),
    OPT("negative_timeout=%s", negative), OPT("etl_keep_cache=%s", keep), OPT("max_threads=%s", threads),
    OPT("read_ahead_kb=%s", ra_kb),
    OPT("-h", help),                OPT("--help", help),             OPT("-V", version),
    OPT("--version", version),      FUSE_OPT_END,
};

/* path made absolute against the current directory (the daemon leaves it) */
static char *absolute(const char *path)
{
    char cwd[4096];
    if (path[0] == '/' || !getcwd(cwd, sizeof cwd))
        return cmn_xstrdup(path);
    return cmn_xasprintf("%s/%s", cwd, path);
}

static void usage(const char *prog)
{
    printf("usage: %s --endpoint URL MOUNTPOINT [-f] [-o option[,option...]]\n"
           "\n"
           "Mounts the buckets of an etlfs (AIStore v3.22 API) target as directories:\n"
           "  MOUNTPOINT/<bucket>/<object path>        read-write, directories are virtual\n"
           "  MOUNTPOINT/@<etl>/<bucket>/<object path> read-only, each file read through that ETL\n"
           "\n"
           "etlfs options:\n"
           "  --endpoint URL, -o endpoint=URL  the node-local target (default http://127.0.0.1:8080)\n"
           "  -o attr_timeout=S                seconds attributes (size, version) are trusted (default 1)\n"
           "  -o entry_timeout=S               seconds a name lookup is trusted (default 1)\n"
           "  -o negative_timeout=S            seconds the kernel trusts that a name does not exist (default 0:\n"
           "                                   off; a name made through the mount reaches views a moment late)\n"
           "  -o fqn=on|off                    read object files directly when the target names them\n"
           "                                   (node-local fast path, default on)\n"
           "  -o spool_dir=DIR                 temp files for writes and large ETL outputs (default $TMPDIR or /tmp)\n"
           "  -o mem_limit=BYTES               ETL output kept in memory per open file before spilling (default 64 MiB)\n"
           "  -o copy_batch=N                  server-side copies (cp) sent to the target as one job, at most\n"
           "                                   (default 1024; 0: each copy done before cp goes on)\n"
           "  -o max_object_size=BYTES         a file may not grow past this (EFBIG); default: no limit but\n"
           "                                   the target's free space (a larger truncate is ENOSPC)\n"
           "  -o metrics_file=PATH             the mount's counters in Prometheus' text format, rewritten\n"
           "                                   every 5 s (for a node exporter's textfile collector)\n"
           "  -o etl_readahead=N               files of a view transformed ahead of a reader going in\n"
           "                                   directory order, at most (default 4; 0: off)\n"
           "  -o read_ahead_kb=N               the kernel's read-ahead window for the mount, KiB (default\n"
           "                                   512: a file of up to 512 KiB read whole in one READ; 0: the\n"
           "                                   kernel's 128 KiB; needs root)\n"
           "  -o etl_keep_cache=0|1            1: the kernel keeps a view file's pages while its source is\n"
           "                                   unchanged, and a re-read transforms nothing (default 0: for\n"
           "                                   ETLs whose output is the same every time, not random ones)\n"
           "  -o max_threads=N                 FUSE threads, at most (default: one per CPU, at least 2): one\n"
           "                                   reads requests, the others run those that wait for the target\n"
           "  --token-file F, -o token_file=F  AuthN token for a target that requires one: AIStore's token\n"
           "                                   file ({\"token\": ...}) or the bare token (default: the\n"
           "                                   AIS_AUTHN_TOKEN variable, then ~/.config/ais/cli/auth.token)\n"
           "  -o token=JWT                     the token itself (visible in ps: prefer a file)\n"
           "\n"
           "Counters: getfattr -n user.etlfs.stats MOUNTPOINT\n"
           "\n",
           prog);
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs) { return 1; }

/* libfuse's fuse_main, with loop.c's loop in place of libfuse's multi-threaded one */
static int run(struct fuse_args *args)
{
    struct fuse_cmdline_opts opts;
    if (fuse_parse_cmdline(args, &opts) != 0)
        return 1;
    int rc = 0;
    struct fuse *f = NULL;
    if (opts.show_version) {
        printf("FUSE library version %s\n", fuse_pkgversion());
        fuse_lowlevel_version();
    } else if (opts.show_help) {
        if (args->argv[0][0] != '\0')
            printf("usage: %s [options] <mountpoint>\n\n", args->argv[0]);
        printf("FUSE options:\n");
        fuse_cmdline_help();
        fuse_lib_help(args);
    } else if (!opts.mountpoint) {
        fprintf(stderr, "etlfs: no mountpoint given\n");
        rc = 2;
    } else if (!(f = fuse_new(args, &fs_ops, sizeof fs_ops, NULL))) {
        rc = 3;
    } else if (fuse_mount(f, opts.mountpoint) != 0) {
        rc = 4;
    } else {
        if (fs_cfg.read_ahead_kb)
            fs_bdi_readahead(opts.mountpoint, fs_cfg.read_ahead_kb);
        if (fuse_daemonize(opts.foreground) != 0) {
            rc = 5;
        } else if (fuse_set_signal_handlers(fuse_get_session(f)) != 0) {
            rc = 6;
        } else {
            if ((opts.singlethread ? fuse_loop(f) : fs_loop(f, fs_cfg.max_threads)) != 0)
                rc = 7;
            fuse_remove_signal_handlers(fuse_get_session(f));
        }
        fuse_unmount(f);
    }
    if (f)
        fuse_destroy(f);
    free(opts.mountpoint);
    return rc;
}

int main(int argc, char **argv)
{
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    struct cli cli = {0};
    cmn_mem_init();
    if (fuse_opt_parse(&args, &cli, cli_opts, opt_proc) != 0)
        return 1;
    int rc = 1;
    if (cli.version) {
        printf("etlfs 0.1 (AIStore v3.22 API)\n");
        fuse_opt_add_arg(&args, "--version");
    }
    if (cli.help) {
        usage(argv[0]);
        fuse_opt_add_arg(&args, "--help");
        args.argv[0][0] = '\0'; /* libfuse then prints only its own options */
    }
    fs_cfg.endpoint = cmn_xstrdup(cli.endpoint ? cli.endpoint : "http://127.0.0.1:8080");
    size_t n = strlen(fs_cfg.endpoint);
    while (n && fs_cfg.endpoint[n - 1] == '/')
        fs_cfg.endpoint[--n] = '\0';
    const char *tmp = getenv("TMPDIR");
    fs_cfg.spool_dir = cmn_xstrdup(cli.spool ? cli.spool : tmp && *tmp ? tmp : "/tmp");
    if (cli.fqn)
        fs_cfg.fqn = !(strcmp(cli.fqn, "off") == 0 || strcmp(cli.fqn, "0") == 0 || strcmp(cli.fqn, "no") == 0);
    if (cli.attr)
        fs_cfg.attr_timeout = atof(cli.attr);
    if (cli.entry)
        fs_cfg.entry_timeout = atof(cli.entry);
    if (cli.mem)
        fs_cfg.mem_limit = (size_t)strtoull(cli.mem, NULL, 10);
    if (cli.batch)
        fs_cfg.copy_batch = atoi(cli.batch);
    if (cli.negative)
        fs_cfg.negative_timeout = atof(cli.negative) > 0 ? atof(cli.negative) : 0;
    if (cli.keep)
        fs_cfg.etl_keep_cache = atoi(cli.keep) > 0;
    if (cli.ra_kb)
        fs_cfg.read_ahead_kb = (unsigned)strtoul(cli.ra_kb, NULL, 10);
    if (cli.readahead)
        fs_cfg.etl_readahead = atoi(cli.readahead) > 0 ? atoi(cli.readahead) : 0;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    fs_cfg.max_threads = ncpu > 2 ? (int)ncpu : 2;
    if (cli.threads)
        fs_cfg.max_threads = atoi(cli.threads) > 0 ? atoi(cli.threads) : 1;
    if (cli.max_size)
        fs_cfg.max_object_size = strtoll(cli.max_size, NULL, 10);
    if (cli.metrics && *cli.metrics) /* absolute: the daemon changes to / */
        fs_cfg.metrics_file = absolute(cli.metrics);
    if (cli.token && *cli.token)
        fs_cfg.token = cmn_xstrdup(cli.token);
    else if (!cli.help && !cli.version) {
        cmn_err err = {0};
        if (cmn_ais_token_load(cli.token_file, &fs_cfg.token, &err) != 0) {
            fprintf(stderr, "etlfs: %s\n", err.msg);
            fuse_opt_free_args(&args);
            return 1;
        }
    }

    static const char fsname[] = "-ofsname=etlfs,subtype=etlfs";
    if (!cli.help && !cli.version)
        fuse_opt_add_arg(&args, fsname);

    if (fs_client_init() == 0) {
        fs_cache_init();
        if (!cli.help && !cli.version)
            cmn_info("etlfs: target %s, attr_timeout %.3gs, fqn fast path %s", fs_cfg.endpoint,
                     fs_cfg.attr_timeout, fs_cfg.fqn ? "on" : "off");
        rc = run(&args);
        fs_cache_destroy();
        fs_client_cleanup();
    }
    fuse_opt_free_args(&args);
    free(cli.endpoint);
    free(cli.spool);
    free(cli.fqn);
    free(cli.attr);
    free(cli.entry);
    free(cli.mem);
    free(cli.batch);
    free(cli.max_size);
    free(cli.readahead);
    free(cli.keep);
    free(cli.negative);
    free(cli.threads);
    free(cli.metrics);
    free(fs_cfg.metrics_file);
    free(cli.token);
    free(cli.token_file);
    free(fs_cfg.token);
    free(fs_cfg.endpoint);
    free(fs_cfg.spool_dir);
    return rc;
}
