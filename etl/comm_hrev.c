/*
 * comm_hrev.c - hrev://: like hpull (the ETL fetches the object itself, from
 * the uname URL), but the target proxies the answer instead of redirecting
 * the client.
 */
#include "etl/etl_int.h"

const etl_comm etl_comm_hrev = {
    .name = "hrev://",
    .object_url = etl_uname_url,
};
