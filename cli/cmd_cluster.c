/*
 * cmd_cluster.c - `ais show cluster`: the cluster map (GET /v1/daemon?what=smap)
 * as AIStore's smap view prints it: proxies, then targets, then a summary.
 * A single etlfs node shows up as one proxy and one target.
 * `ais cluster add-remove-nodes start-maintenance|stop-maintenance|
 * decommission|shutdown NODE_ID`: AIStore's node actions (PUT /v1/cluster).
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_SNODE_MAINT (1 << 2)  /* AIStore's Snode.Flags (core/meta/smap.go) */
#define CLI_SNODE_DECOMM (1 << 3)

static int cmp_node(const void *a, const void *b)
{
    return strcmp((*(cJSON *const *)a)->string, (*(cJSON *const *)b)->string);
}

/* Adds the nodes of one map, sorted by id as Go's template ranges a map. */
static int add_nodes(cli_table *t, cJSON *map, const char *primary)
{
    int n = cJSON_GetArraySize(map);
    if (n <= 0)
        return 0;
    cJSON **nodes = cmn_xmalloc((size_t)n * sizeof *nodes);
    int k = 0;
    for (cJSON *e = map->child; e && k < n; e = e->next)
        nodes[k++] = e;
    qsort(nodes, (size_t)k, sizeof *nodes, cmp_node);
    for (int i = 0; i < k; i++) {
        cJSON *e = nodes[i];
        cJSON *type = cJSON_GetObjectItem(e, "daemon_type");
        cJSON *pub = cJSON_GetObjectItem(e, "public_net");
        cJSON *url = pub ? cJSON_GetObjectItem(pub, "direct_url") : NULL;
        cJSON *fl = cJSON_GetObjectItem(e, "flags");
        /* AIStore's suffixes: the primary, else a node in maintenance or being decommissioned */
        bool out = cJSON_IsNumber(fl) && (fl->valueint & (CLI_SNODE_MAINT | CLI_SNODE_DECOMM));
        char id[160], ty[40], u[300];
        snprintf(id, sizeof id, "%s%s", e->string,
                 primary && !strcmp(primary, e->string) ? "[P]" : out ? "[x]" : "");
        snprintf(ty, sizeof ty, " %s", cJSON_IsString(type) ? type->valuestring : "");
        snprintf(u, sizeof u, " %s", cJSON_IsString(url) ? url->valuestring : "");
        cli_table_row(t, id, ty, u);
    }
    free(nodes);
    return k;
}

/* One map as a table of its own (headed unless --no-headers); its node count. */
static int print_nodes(cJSON *map, const char *primary, bool hdr)
{
    cli_table t;
    cli_table_init(&t, 3);
    if (hdr)
        cli_table_row(&t, "NODE", " TYPE", " PUBLIC URL");
    int n = add_nodes(&t, map, primary);
    cli_table_print(&t);
    cli_table_free(&t);
    return n;
}

int cli_show_cluster(cli_args *a)
{
    int bad = cli_npos(a, 0, 1, NULL);
    if (bad)
        return bad;
    if (a->npos == 1 && strcmp(a->pos[0], "smap") != 0)
        return cli_usage_err(a, "unsupported argument '%s' (expecting nothing or 'smap')", a->pos[0]);
    cli_call c;
    cli_call_init(&c, "GET");
    cmn_ais_url(&c.url, &cli_ais, "daemon");
    cmn_ais_url_query(&c.url, "what", "smap");
    cJSON *smap;
    int rc = cli_get_json(a, &c, "cluster map", cJSON_IsObject, &smap);
    if (smap) {
        cJSON *psi = cJSON_GetObjectItem(smap, "proxy_si");
        cJSON *pid = psi ? cJSON_GetObjectItem(psi, "daemon_id") : NULL;
        const char *primary = cJSON_IsString(pid) ? pid->valuestring : NULL;
        cJSON *ver = cJSON_GetObjectItem(smap, "version");
        bool hdr = !cli_flag_set(a, "no-headers");
        int np = print_nodes(cJSON_GetObjectItem(smap, "pmap"), primary, hdr);
        printf("\n");
        int nt = print_nodes(cJSON_GetObjectItem(smap, "tmap"), NULL, hdr);
        printf("\nNon-Electable:\n\n");
        printf("Primary Proxy: %s\n", primary ? primary : "");
        char v[32];
        if (cJSON_IsString(ver))
            snprintf(v, sizeof v, "%s", ver->valuestring);
        else
            snprintf(v, sizeof v, "%.0f", cJSON_IsNumber(ver) ? ver->valuedouble : 0);
        cli_table t;
        cli_table_init(&t, 3);
        char c2[40], c3[60];
        snprintf(c2, sizeof c2, " Targets: %d", nt);
        snprintf(c3, sizeof c3, " Smap Version: %s", v);
        char c1[40];
        snprintf(c1, sizeof c1, "Proxies: %d", np);
        cli_table_row(&t, c1, c2, c3);
        cli_table_print(&t);
        cli_table_free(&t);
    }
    cJSON_Delete(smap);
    cli_call_free(&c);
    return rc;
}

/* ---- add-remove-nodes */

/* NODE_ID as AIStore's CLI takes it: "ID", "t[ID]" or "p[ID]". */
static void node_id(const char *arg, char *out, size_t len)
{
    size_t n = strlen(arg);
    if (n > 3 && (arg[0] == 't' || arg[0] == 'p') && arg[1] == '[' && arg[n - 1] == ']')
        snprintf(out, len, "%.*s", (int)(n - 3), arg + 2);
    else
        snprintf(out, len, "%s", arg);
}

static int node_action(cli_args *a, const char *action)
{
    int bad = cli_npos(a, 1, 1, "node ID");
    if (bad)
        return bad;
    char sid[256], sname[300];
    node_id(a->pos[0], sid, sizeof sid);
    snprintf(sname, sizeof sname, "t[%s]", sid);
    cJSON *msg = cJSON_CreateObject(), *v;
    cJSON_AddStringToObject(msg, "action", action);
    cJSON_AddItemToObject(msg, "value", v = cJSON_CreateObject());
    cJSON_AddStringToObject(v, "sid", sid);
    cJSON_AddBoolToObject(v, "skip_rebalance", cli_flag_set(a, "no-rebalance"));
    cJSON_AddBoolToObject(v, "rm_user_data", cli_flag_set(a, "rm-user-data"));
    char *body = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);
    cli_call c;
    cli_call_init(&c, "PUT");
    cmn_ais_url(&c.url, &cli_ais, "cluster");
    c.body = body;
    cmn_http_resp r;
    cmn_http_resp_init(&r);
    int rc = cli_send(&c, &r, false);
    if (rc == CLI_EXIT_OK) {
        char xid[64];
        cli_reply_id(&r, xid, sizeof xid);
        if (*xid)
            printf("Started rebalance \"%s\" (to monitor, run 'ais show job %s').\n", xid, xid);
        if (!strcmp(action, "stop-maintenance"))
            printf("%s is now active\n", sname);
        else if (!strcmp(action, "start-maintenance"))
            printf("%s is now in maintenance mode\n", sname);
        else if (!strcmp(action, "decommission-node"))
            printf("%s is being decommissioned, please wait for cluster rebalancing to finish...\n", sname);
        else
            printf("%s has been shut down\n", sname);
    }
    cmn_http_resp_free(&r);
    cli_call_free(&c);
    free(body);
    return rc;
}

int cli_node_start_maint(cli_args *a) { return node_action(a, "start-maintenance"); }
int cli_node_stop_maint(cli_args *a) { return node_action(a, "stop-maintenance"); }
int cli_node_decommission(cli_args *a) { return node_action(a, "decommission-node"); }
int cli_node_shutdown(cli_args *a) { return node_action(a, "shutdown-node"); }
