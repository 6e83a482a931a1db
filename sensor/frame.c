/* d4-sensor: one signed D4 frame. */
#include "d4_error.h"
#include "d4_proto.h"
#include "d4_sensor.h"

#include <string.h>

int d4_sensor_frame(const struct d4_sensor_ident *id, uint8_t type, uint64_t ts, const uint8_t *payload, size_t len,
		    uint8_t *out, size_t cap)
{
	if (len > UINT32_MAX || cap < D4_HDR_LEN + len)
		return D4_ETOOBIG;
	struct d4_hdr h;
	memset(&h, 0, sizeof(h));
	h.version = id->version;
	h.type = type;
	memcpy(h.uuid, id->uuid, 16);
	h.timestamp = ts;
	return d4_proto_frame_build(&h, id->key, id->keylen, payload, len, out, cap);
}
