#include "d4_error.h"

const char *d4_strerror(int err)
{
	switch (err) {
	case D4_OK: return "success";
	case D4_EINVAL: return "invalid argument or malformed input";
	case D4_ENOMEM: return "out of memory";
	case D4_EIO: return "input/output error";
	case D4_ETRUNC: return "truncated input";
	case D4_EPROTO: return "protocol violation";
	case D4_ETOOBIG: return "size above limit";
	case D4_EHMAC: return "HMAC mismatch";
	case D4_ENOTFOUND: return "not found";
	case D4_EEXIST: return "already exists";
	case D4_EFULL: return "storage or queue full";
	case D4_ECONFIG: return "configuration error";
	case D4_ETLS: return "TLS error";
	case D4_EJSON: return "JSON error";
	case D4_ESTORE: return "storage error";
	case D4_EAGAIN: return "try again";
	case D4_ECLOSED: return "closed";
	case D4_ETIMEOUT: return "timed out";
	case D4_EPERM: return "not permitted";
	case D4_EBUSY: return "busy";
	case D4_ECORRUPT: return "corrupt data";
	case D4_ENOTSUP: return "not supported";
	default: return "unknown error";
	}
}
