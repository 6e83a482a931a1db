/* d4hub API — the route table: every operation of openapi/d4hub.yaml,
 * method + path template + minimum role + body kind + handler +
 * operationId. Resource files add their rows below the system ones; keep
 * the operationIds identical to the spec (the conformance test checks). */
#include "api_core.h"
#include "h_export.h"
#include "handlers.h"

#include <stddef.h>

const struct d4_api_route d4_api_routes[] = {
    /* the web page (api/h_web.c) */
    {"GET", "/", D4_ROLE_NONE, D4_BODY_NONE, d4_api_h_web_index, "getWebIndex"},
    {"GET", "/static/{file}", D4_ROLE_NONE, D4_BODY_NONE, d4_api_h_web_asset, "getWebAsset"},
    /* system (api/h_system.c) */
    {"GET", "/health", D4_ROLE_NONE, D4_BODY_NONE, d4_api_h_health, "getHealth"},
    {"GET", "/openapi.yaml", D4_ROLE_NONE, D4_BODY_NONE, d4_api_h_openapi, "getOpenapi"},
    {"GET", "/metrics", D4_ROLE_USER, D4_BODY_NONE, d4_api_h_metrics, "getMetrics"},
    {"GET", "/api/v1/me", D4_ROLE_SENSOR_REGISTER, D4_BODY_NONE, d4_api_h_me, "getMe"},
    /* resources (api/h_sensors.c, h_blocklist.c, h_types.c, h_stats.c, h_users.c, h_register.c) */
    {"GET", "/api/v1/sensors", D4_ROLE_USER, D4_BODY_NONE, d4_h_list_sensors, "listSensors"},
    {"POST", "/api/v1/sensors", D4_ROLE_ADMIN, D4_BODY_JSON, d4_h_create_sensor, "createSensor"},
    {"GET", "/api/v1/sensors/silent", D4_ROLE_USER, D4_BODY_NONE, d4_h_list_silent_sensors, "listSilentSensors"},
    {"GET", "/api/v1/sensors/{uuid}", D4_ROLE_USER, D4_BODY_NONE, d4_h_get_sensor, "getSensor"},
    {"PATCH", "/api/v1/sensors/{uuid}", D4_ROLE_ADMIN, D4_BODY_JSON, d4_h_update_sensor, "updateSensor"},
    {"DELETE", "/api/v1/sensors/{uuid}", D4_ROLE_ADMIN, D4_BODY_NONE, d4_h_delete_sensor, "deleteSensor"},
    {"GET", "/api/v1/sensors/{uuid}/sessions", D4_ROLE_USER, D4_BODY_NONE, d4_h_list_sensor_sessions,
     "listSensorSessions"},
    {"POST", "/api/v1/sensors/{uuid}/approve", D4_ROLE_ADMIN, D4_BODY_NONE, d4_h_approve_sensor, "approveSensor"},
    {"POST", "/api/v1/sensors/{uuid}/block", D4_ROLE_ADMIN, D4_BODY_NONE, d4_h_block_sensor, "blockSensor"},
    {"POST", "/api/v1/sensors/{uuid}/unblock", D4_ROLE_ADMIN, D4_BODY_NONE, d4_h_unblock_sensor, "unblockSensor"},
    {"POST", "/api/v1/sensors/{uuid}/kick", D4_ROLE_ADMIN, D4_BODY_JSON, d4_h_kick_sensor, "kickSensor"},
    {"POST", "/api/v1/sensors/{uuid}/rotate-key", D4_ROLE_ADMIN, D4_BODY_JSON, d4_h_rotate_sensor_key,
     "rotateSensorKey"},
    {"GET", "/api/v1/blocklist", D4_ROLE_USER, D4_BODY_NONE, d4_h_list_blocklist, "listBlocklist"},
    {"POST", "/api/v1/blocklist", D4_ROLE_ADMIN, D4_BODY_JSON, d4_h_add_block, "addBlock"},
    {"DELETE", "/api/v1/blocklist/{kind}/{value}", D4_ROLE_ADMIN, D4_BODY_NONE, d4_h_delete_block, "deleteBlock"},
    {"GET", "/api/v1/types", D4_ROLE_USER, D4_BODY_NONE, d4_h_get_types, "getTypes"},
    {"PUT", "/api/v1/types/{type}", D4_ROLE_ADMIN, D4_BODY_JSON, d4_h_set_type, "setType"},
    {"PUT", "/api/v1/ext-types/{name}", D4_ROLE_ADMIN, D4_BODY_NONE, d4_h_add_ext_type, "addExtType"},
    {"DELETE", "/api/v1/ext-types/{name}", D4_ROLE_ADMIN, D4_BODY_NONE, d4_h_delete_ext_type, "deleteExtType"},
    {"GET", "/api/v1/stats/totals", D4_ROLE_USER, D4_BODY_NONE, d4_h_get_stats_totals, "getStatsTotals"},
    {"GET", "/api/v1/stats/daily", D4_ROLE_USER, D4_BODY_NONE, d4_h_get_stats_daily, "getStatsDaily"},
    {"GET", "/api/v1/users", D4_ROLE_ADMIN, D4_BODY_NONE, d4_h_list_users, "listUsers"},
    {"POST", "/api/v1/users", D4_ROLE_ADMIN, D4_BODY_JSON, d4_h_create_user, "createUser"},
    {"DELETE", "/api/v1/users/{name}", D4_ROLE_ADMIN, D4_BODY_NONE, d4_h_delete_user, "deleteUser"},
    {"GET", "/api/v1/users/{name}/tokens", D4_ROLE_ADMIN, D4_BODY_NONE, d4_h_list_tokens, "listTokens"},
    {"POST", "/api/v1/users/{name}/tokens", D4_ROLE_ADMIN, D4_BODY_JSON, d4_h_create_token, "createToken"},
    {"DELETE", "/api/v1/tokens/{id}", D4_ROLE_ADMIN, D4_BODY_NONE, d4_h_revoke_token, "revokeToken"},
    {"POST", "/api/v1/add/sensor/register", D4_ROLE_SENSOR_REGISTER, D4_BODY_JSON, d4_h_register_sensor,
     "registerSensor"},
    /* server (ingest) mode (api/h_server.c) */
    {"GET", "/api/v1/server", D4_ROLE_ADMIN, D4_BODY_NONE, d4_h_get_server, "getServerMode"},
    {"PUT", "/api/v1/server", D4_ROLE_ADMIN, D4_BODY_JSON, d4_h_set_server, "setServerMode"},
    /* raw data export, streamed (api/h_export.c) */
    {"GET", "/api/v1/sessions/{id}/export", D4_ROLE_USER, D4_BODY_NONE, d4_h_export_session, "exportSession"},
    {"GET", "/api/v1/export", D4_ROLE_USER, D4_BODY_NONE, d4_h_export_range, "exportRange"},
    /* analyzer queues (api/h_queues.c) */
    {"GET", "/api/v1/queues", D4_ROLE_USER, D4_BODY_NONE, d4_h_list_queues, "listQueues"},
    {"POST", "/api/v1/queues", D4_ROLE_ADMIN, D4_BODY_JSON, d4_h_create_queue, "createQueue"},
    {"GET", "/api/v1/queues/{id}", D4_ROLE_USER, D4_BODY_NONE, d4_h_get_queue, "getQueue"},
    {"PATCH", "/api/v1/queues/{id}", D4_ROLE_ADMIN, D4_BODY_JSON, d4_h_update_queue, "updateQueue"},
    {"DELETE", "/api/v1/queues/{id}", D4_ROLE_ADMIN, D4_BODY_NONE, d4_h_delete_queue, "deleteQueue"},
    {"POST", "/api/v1/queues/{id}/flush", D4_ROLE_ADMIN, D4_BODY_NONE, d4_h_flush_queue, "flushQueue"},
    {"GET", "/api/v1/queues/{id}/preview", D4_ROLE_USER, D4_BODY_NONE, d4_h_preview_queue, "previewQueue"},
    {"POST", "/api/v1/queues/{id}/pop", D4_ROLE_USER, D4_BODY_NONE, d4_h_pop_queue, "popQueue"},
    {"POST", "/api/v1/queues/{id}/ack", D4_ROLE_USER, D4_BODY_JSON, d4_h_ack_queue, "ackQueue"},
    {"GET", "/api/v1/queues/{id}/follow", D4_ROLE_USER, D4_BODY_NONE, d4_h_follow_queue, "followQueue"},
    /* passive DNS queries: CIRCL COF and DNSDB API v2 (api/h_pdns.c) */
    {"GET", "/pdns/query/{q}", D4_ROLE_USER, D4_BODY_NONE, d4_h_pdns_query, "pdnsQuery"},
    {"GET", "/pdns/info", D4_ROLE_USER, D4_BODY_NONE, d4_h_pdns_info, "pdnsInfo"},
    {"GET", "/dnsdb/v2/lookup/rrset/name/{name}", D4_ROLE_USER, D4_BODY_NONE, d4_h_dnsdb_lookup_rrset_name, "dnsdbLookupRrsetName"},
    {"GET", "/dnsdb/v2/lookup/rrset/name/{name}/{rrtype}", D4_ROLE_USER, D4_BODY_NONE, d4_h_dnsdb_lookup_rrset_name, "dnsdbLookupRrsetNameType"},
    {"GET", "/dnsdb/v2/lookup/rrset/name/{name}/{rrtype}/{bailiwick}", D4_ROLE_USER, D4_BODY_NONE, d4_h_dnsdb_lookup_rrset_name, "dnsdbLookupRrsetNameTypeBailiwick"},
    {"GET", "/dnsdb/v2/lookup/rdata/name/{name}", D4_ROLE_USER, D4_BODY_NONE, d4_h_dnsdb_lookup_rdata_name, "dnsdbLookupRdataName"},
    {"GET", "/dnsdb/v2/lookup/rdata/name/{name}/{rrtype}", D4_ROLE_USER, D4_BODY_NONE, d4_h_dnsdb_lookup_rdata_name, "dnsdbLookupRdataNameType"},
    {"GET", "/dnsdb/v2/lookup/rdata/ip/{ip}", D4_ROLE_USER, D4_BODY_NONE, d4_h_dnsdb_lookup_rdata_ip, "dnsdbLookupRdataIp"},
    {"GET", "/dnsdb/v2/lookup/rdata/raw/{hex}", D4_ROLE_USER, D4_BODY_NONE, d4_h_dnsdb_lookup_rdata_raw, "dnsdbLookupRdataRaw"},
    {"GET", "/dnsdb/v2/lookup/rdata/raw/{hex}/{rrtype}", D4_ROLE_USER, D4_BODY_NONE, d4_h_dnsdb_lookup_rdata_raw, "dnsdbLookupRdataRawType"},
    {"GET", "/dnsdb/v2/summarize/rrset/name/{name}", D4_ROLE_USER, D4_BODY_NONE, d4_h_dnsdb_summarize_rrset_name, "dnsdbSummarizeRrsetName"},
    {"GET", "/dnsdb/v2/summarize/rrset/name/{name}/{rrtype}", D4_ROLE_USER, D4_BODY_NONE, d4_h_dnsdb_summarize_rrset_name, "dnsdbSummarizeRrsetNameType"},
    {"GET", "/dnsdb/v2/summarize/rrset/name/{name}/{rrtype}/{bailiwick}", D4_ROLE_USER, D4_BODY_NONE, d4_h_dnsdb_summarize_rrset_name, "dnsdbSummarizeRrsetNameTypeBailiwick"},
    {"GET", "/dnsdb/v2/summarize/rdata/name/{name}", D4_ROLE_USER, D4_BODY_NONE, d4_h_dnsdb_summarize_rdata_name, "dnsdbSummarizeRdataName"},
    {"GET", "/dnsdb/v2/summarize/rdata/name/{name}/{rrtype}", D4_ROLE_USER, D4_BODY_NONE, d4_h_dnsdb_summarize_rdata_name, "dnsdbSummarizeRdataNameType"},
    {"GET", "/dnsdb/v2/summarize/rdata/ip/{ip}", D4_ROLE_USER, D4_BODY_NONE, d4_h_dnsdb_summarize_rdata_ip, "dnsdbSummarizeRdataIp"},
    {"GET", "/dnsdb/v2/summarize/rdata/raw/{hex}", D4_ROLE_USER, D4_BODY_NONE, d4_h_dnsdb_summarize_rdata_raw, "dnsdbSummarizeRdataRaw"},
    {"GET", "/dnsdb/v2/summarize/rdata/raw/{hex}/{rrtype}", D4_ROLE_USER, D4_BODY_NONE, d4_h_dnsdb_summarize_rdata_raw, "dnsdbSummarizeRdataRawType"},
    {"GET", "/dnsdb/v2/rate_limit", D4_ROLE_USER, D4_BODY_NONE, d4_h_dnsdb_rate_limit, "dnsdbRateLimit"},
    {"GET", "/dnsdb/v2/ping", D4_ROLE_USER, D4_BODY_NONE, d4_h_dnsdb_ping, "dnsdbPing"},
};
const size_t d4_api_nroutes = sizeof(d4_api_routes) / sizeof(d4_api_routes[0]);
