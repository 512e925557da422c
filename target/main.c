/*
 * main.c - etlfs-target: flags, start-up and clean shutdown. SIGTERM/SIGINT
 * stop accepting, let the HTTP layer close its connections (a PUT cut short
 * leaves its old object and no work file), abort and join jobs, and stop
 * every ETL process.
 */
#include "target/target.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: etlfs-target [--listen HOST:PORT] [--data DIR]... [options]\n"
            "\n"
            "Serves AIStore's REST API (v3.22) for buckets stored on local mountpaths,\n"
            "and runs ETLs next to the data.\n"
            "\n"
            "  --listen HOST:PORT   address to serve on (default 127.0.0.1:8080)\n"
            "  --data DIR           a mountpath; repeat for several (default ./data).\n"
            "                       Objects spread over mountpaths by a hash of bucket+name.\n"
            "  --public-url URL     URL clients are told to use in the cluster map\n"
            "                       (default http://HOST:PORT of --listen; 0.0.0.0 -> 127.0.0.1)\n"
            "  --threads N          HTTP event threads: read requests, serve plain object\n"
            "                       reads and HEADs (default: one per core)\n"
            "  --workers N          threads for requests that may wait: inline ETLs, jobs,\n"
            "                       listings, PUTs' ends, cluster calls (default max(16, 8 x cores))\n"
            "  --max-body BYTES     largest control message accepted (default 16 MiB)\n"
            "  --etl-dir DIR        ETL runtimes, transformers and images.conf\n"
            "                       (default: the etl/ folder next to the build)\n"
            "  --state DIR          ETL state: init messages, code, venvs, logs\n"
            "                       (default: FIRST_MOUNTPATH/.etlfs/etl)\n"
            "  --etl-user USER      unprivileged user ETL processes run as (default nobody)\n"
            "  --promote-root DIR   promote may read (and with dls delete) files under DIR;\n"
            "                       repeat for several (at most 16). Without it promote is refused\n"
            "  --etl-memory SIZE    memory of each ETL's process tree (default 4Gi; e.g. 512Mi)\n"
            "  --etl-pids N         processes and threads of each ETL (default 1024)\n"
            "  --auth-secret S      require AIStore AuthN tokens (JWT, HS256) signed with S on\n"
            "                       every request but GET /v1/health (default: no authentication)\n"
            "  --auth-secret-file F the same, the secret read from file F (trailing newline dropped)\n"
            "  --tls-cert F         serve HTTPS with this PEM certificate (chain) ...\n"
            "  --tls-key F          ... and this PEM private key (both or neither)\n"
            "  --upload-timeout SEC an append not flushed or a multipart upload not completed,\n"
            "                       idle for SEC seconds, is dropped with its work files\n"
            "                       (default 3600)\n"
            "  --etcd URL[,URL...]  join a cluster whose membership and buckets live in etcd\n"
            "                       (docs/cluster.md); without it this node is a cluster alone\n"
            "  --cluster NAME       the cluster's name in etcd (default etlfs)\n"
            "  --id ID              this target's id (default: made once, kept in the first\n"
            "                       mountpath); it decides which objects this node owns\n"
            "  -v, --verbose        debug logging\n"
            "  -h, --help           this text\n");
}

/* A whole small file (a secret, a PEM), or NULL with the reason printed. */
static char *read_small_file(const char *flag, const char *path, size_t *len)
{
    cmn_buf b;
    cmn_buf_init(&b);
    int rc = cmn_read_small_file(path, 1u << 20, &b);
    if (rc) {
        fprintf(stderr, "etlfs-target: %s %s: %s\n", flag, path, strerror(-rc));
        cmn_buf_free(&b);
        return NULL;
    }
    if (len)
        *len = b.len;
    return cmn_buf_steal(&b);
}

static bool set_secret(tgt_config *cfg, char *secret, size_t len)
{
    while (len && (secret[len - 1] == '\n' || secret[len - 1] == '\r'))
        secret[--len] = '\0';
    if (!len) {
        fprintf(stderr, "etlfs-target: the auth secret is empty\n");
        free(secret);
        return false;
    }
    free(cfg->auth_secret);
    cfg->auth_secret = secret;
    cfg->auth_secret_len = len;
    return true;
}


/* The etl/ folder of the source tree: build/bin/etlfs-target -> ../../etl */
static void default_etl_dir(char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        for (int up = 0; up < 3; up++) {
            char *s = strrchr(exe, '/');
            if (!s)
                break;
            *s = '\0';
            char probe[PATH_MAX + 32];
            snprintf(out, len, "%s/etl", exe);
            snprintf(probe, sizeof probe, "%s/etl/runtimes", exe); /* not the build tree's etl/ */
            if (access(probe, R_OK) == 0)
                return;
        }
    }
    snprintf(out, len, "/usr/local/share/etlfs/etl");
}

int main(int argc, char **argv)
{
    static tgt_server server;
    tgt = &server;
    cmn_mem_init();
    tgt_config *cfg = &server.cfg;
    snprintf(cfg->listen_host, sizeof cfg->listen_host, "127.0.0.1");
    cfg->port = 8080;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->threads = ncpu > 1 ? (int)ncpu : 1;
    cfg->workers = ncpu * 8 > 16 ? (int)ncpu * 8 : 16;
    cfg->max_body = 16u << 20;
    cfg->upload_idle_ns = 3600 * 1000000000LL;
    char *dirs[TGT_MAX_MPATHS];
    int ndirs = 0;
    const char *state = NULL, *etl_user = NULL;
    int64_t etl_memory = 0;
    int etl_pids = 0;
    static const struct option opts[] = {{"listen", required_argument, 0, 'l'},  {"data", required_argument, 0, 'd'},
                                         {"public-url", required_argument, 0, 'u'}, {"threads", required_argument, 0, 't'},
                                         {"workers", required_argument, 0, 'w'},
                                         {"max-body", required_argument, 0, 'b'}, {"etl-dir", required_argument, 0, 'e'},
                                         {"state", required_argument, 0, 's'},    {"etl-user", required_argument, 0, 'U'},
                                         {"promote-root", required_argument, 0, 'P'},
                                         {"etl-memory", required_argument, 0, 'M'}, {"etl-pids", required_argument, 0, 'N'},
                                         {"auth-secret", required_argument, 0, 'S'},
                                         {"auth-secret-file", required_argument, 0, 'F'},
                                         {"tls-cert", required_argument, 0, 'C'}, {"tls-key", required_argument, 0, 'K'},
                                         {"etcd", required_argument, 0, 'E'},     {"cluster", required_argument, 0, 'c'},
                                         {"id", required_argument, 0, 'i'},
                                         {"upload-timeout", required_argument, 0, 'W'},
                                         {"verbose", no_argument, 0, 'v'},        {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        switch (c) {
        case 'l': {
            const char *colon = strrchr(optarg, ':');
            if (!colon || colon == optarg || atoi(colon + 1) <= 0 || atoi(colon + 1) > 65535) {
                fprintf(stderr, "etlfs-target: --listen wants HOST:PORT, got '%s'\n", optarg);
                return 2;
            }
            snprintf(cfg->listen_host, sizeof cfg->listen_host, "%.*s", (int)(colon - optarg), optarg);
            cfg->port = atoi(colon + 1);
            break;
        }
        case 'd':
            if (ndirs == TGT_MAX_MPATHS) {
                fprintf(stderr, "etlfs-target: at most %d mountpaths\n", TGT_MAX_MPATHS);
                return 2;
            }
            dirs[ndirs++] = optarg;
            break;
        case 'u': snprintf(cfg->public_url, sizeof cfg->public_url, "%s", optarg); break;
        case 't': cfg->threads = atoi(optarg) > 0 ? atoi(optarg) : cfg->threads; break;
        case 'w': cfg->workers = atoi(optarg) > 0 ? atoi(optarg) : cfg->workers; break;
        case 'b': cfg->max_body = (size_t)strtoull(optarg, NULL, 10); break;
        case 'e': snprintf(cfg->etl_dir, sizeof cfg->etl_dir, "%s", optarg); break;
        case 's': state = optarg; break;
        case 'U': etl_user = optarg; break;
        case 'P': {
            /* resolved once: promote compares real paths, so a symlink cannot lead out */
            char real[PATH_MAX];
            if (cfg->npromote_roots == (int)(sizeof cfg->promote_roots / sizeof cfg->promote_roots[0])) {
                fprintf(stderr, "etlfs-target: at most %zu --promote-root directories\n",
                        sizeof cfg->promote_roots / sizeof cfg->promote_roots[0]);
                return 2;
            }
            if (!realpath(optarg, real)) {
                fprintf(stderr, "etlfs-target: --promote-root %s: %s\n", optarg, strerror(errno));
                return 2;
            }
            if (!strcmp(real, "/")) {
                fprintf(stderr, "etlfs-target: --promote-root /: refusing to let promote read the whole host\n");
                return 2;
            }
            cfg->promote_roots[cfg->npromote_roots++] = cmn_xstrdup(real);
            break;
        }
        case 'M':
            if (etl_parse_memory(optarg, &etl_memory) != 0) {
                fprintf(stderr, "etlfs-target: --etl-memory wants a size (e.g. 4Gi, 512Mi), got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'N':
            if ((etl_pids = atoi(optarg)) <= 0) {
                fprintf(stderr, "etlfs-target: --etl-pids wants a positive number, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'S':
            if (!set_secret(cfg, cmn_xstrdup(optarg), strlen(optarg)))
                return 2;
            break;
        case 'F': {
            size_t len;
            char *secret = read_small_file("--auth-secret-file", optarg, &len);
            if (!secret || !set_secret(cfg, secret, len))
                return 2;
            break;
        }
        case 'C':
        case 'K': {
            char *pem = read_small_file(c == 'C' ? "--tls-cert" : "--tls-key", optarg, NULL);
            if (!pem)
                return 2;
            char **slot = c == 'C' ? &cfg->tls_cert : &cfg->tls_key;
            free(*slot);
            *slot = pem;
            break;
        }
        case 'E':
            free(cfg->etcd);
            cfg->etcd = cmn_xstrdup(optarg);
            break;
        case 'c': snprintf(cfg->cluster, sizeof cfg->cluster, "%s", optarg); break;
        case 'i':
            if (!*optarg || strlen(optarg) >= sizeof cfg->node_id || strchr(optarg, '/')) {
                fprintf(stderr, "etlfs-target: --id wants a short name without '/', got '%s'\n", optarg);
                return 2;
            }
            snprintf(cfg->node_id, sizeof cfg->node_id, "%s", optarg);
            break;
        case 'W': {
            char *end;
            double secs = strtod(optarg, &end);
            if (end == optarg || *end || !(secs > 0) || secs > 1e9) {
                fprintf(stderr, "etlfs-target: --upload-timeout wants a number of seconds, got '%s'\n", optarg);
                return 2;
            }
            cfg->upload_idle_ns = (int64_t)(secs * 1e9);
            break;
        }
        case 'v': cmn_log_set_level(CMN_LOG_DEBUG); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "etlfs-target: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!ndirs)
        dirs[ndirs++] = "./data";
    if (!cfg->tls_cert != !cfg->tls_key) {
        fprintf(stderr, "etlfs-target: --tls-cert and --tls-key go together\n");
        return 2;
    }
    if (!*cfg->public_url) {
        const char *h = strcmp(cfg->listen_host, "0.0.0.0") ? cfg->listen_host : "127.0.0.1";
        snprintf(cfg->public_url, sizeof cfg->public_url, "%s://%s:%d", cfg->tls_cert ? "https" : "http", h,
                 cfg->port);
    }
    if (strncmp(cfg->listen_host, "127.", 4) && !cfg->auth_secret)
        cmn_warn("listening on %s without --auth-secret: anyone who reaches the port may run code here "
                 "(ETL init); see docs/security.md", cfg->listen_host);
    if (!*cfg->etl_dir)
        default_etl_dir(cfg->etl_dir, sizeof cfg->etl_dir);

    signal(SIGPIPE, SIG_IGN);
    /* SIGTERM/SIGINT blocked before any thread starts, so every thread
     * inherits the mask and main alone takes them with sigwait (a handler
     * could run on any thread and leave main asleep); ETL processes get an
     * empty mask back (etl/runtime_local.c) */
    sigset_t stop_sigs;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGTERM);
    sigaddset(&stop_sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);

    if (tgt_store_open(&server.store, dirs, ndirs) != 0)
        return 1;
    tgt_journal_recover(&server.store); /* jobs cut short by a crash are reported aborted */
    char state_dir[PATH_MAX];
    snprintf(state_dir, sizeof state_dir, "%s/.etlfs/etl", server.store.mpaths[0]);
    if (state)
        snprintf(state_dir, sizeof state_dir, "%s", state);
    cmn_mkdir_p(state_dir);
    if (tgt_server_start_etl(&server) != 0) {
        tgt_store_close(&server.store);
        return 1;
    }
    const char *mpaths[TGT_MAX_MPATHS + 1] = {0};
    for (int i = 0; i < server.store.nmpaths; i++)
        mpaths[i] = server.store.mpaths[i];
    etl_config ecfg = {TGT_NODE_ID, server.etl_url, state_dir, cfg->etl_dir, etl_user, mpaths, etl_memory, etl_pids};
    server.etl = etl_registry_new(&ecfg);
    if (!server.etl) {
        tgt_server_stop(&server);
        tgt_store_close(&server.store);
        return 1;
    }
    server.started_ns = cmn_now_ns();
    cmn_gen_uuid(server.smap_uuid);
    if (tgt_server_start(&server) != 0) {
        tgt_server_stop(&server);
        etl_registry_free(server.etl);
        tgt_store_close(&server.store);
        return 1;
    }
    /* joins once it serves: the others may redirect to it as soon as it is in their map */
    cmn_err cerr;
    if (cfg->etcd && tgt_cluster_start(&cerr) != 0) {
        cmn_error("cannot join cluster: %s", cerr.msg);
        tgt_server_stop(&server);
        etl_registry_free(server.etl);
        tgt_store_close(&server.store);
        return 1;
    }
    if (cfg->etcd && tgt_cluster_etl_begin(&cerr) != 0)
        cmn_warn("cluster ETLs: %s", cerr.msg);
    tgt_sweeper_start();
    cmn_info("etlfs-target serving %s (listening on %s:%d), %d mountpath(s), %d event threads, %d workers%s",
             cfg->public_url, cfg->listen_host, cfg->port, ndirs, cfg->threads, cfg->workers, cfg->auth_secret ? ", tokens required" : "");
    int sig = 0;
    sigwait(&stop_sigs, &sig);
    cmn_info("shutting down (%s)", sig == SIGINT ? "SIGINT" : "SIGTERM");
    if (cfg->etcd)
        tgt_cluster_etl_end(); /* while etcd is still ours: the watch ends */
    tgt_cluster_stop(); /* before the server: nobody is sent here any more */
    tgt_server_stop(&server);
    tgt_sweeper_stop(); /* after the server: no request holds an append or upload now */
    tgt_jobs_shutdown();
    etl_registry_free(server.etl);
    tgt_store_close(&server.store);
    for (int i = 0; i < cfg->npromote_roots; i++)
        free(cfg->promote_roots[i]);
    free(cfg->auth_secret);
    free(cfg->tls_cert);
    free(cfg->tls_key);
    free(cfg->etcd);
    cmn_info("stopped");
    return 0;
}
