/* d4hub — one error space for every module.
 * 0 is success; failures are negative D4_E* codes. Functions that return a
 * count return it as a non-negative int and errors as negative codes. */
#ifndef D4_ERROR_H
#define D4_ERROR_H

enum {
	D4_OK = 0,
	D4_EINVAL = -1,	   /* bad argument or malformed input */
	D4_ENOMEM = -2,	   /* allocation failed */
	D4_EIO = -3,	   /* system call or I/O failure (errno kept by caller) */
	D4_ETRUNC = -4,	   /* input ends before a declared length */
	D4_EPROTO = -5,	   /* protocol violation */
	D4_ETOOBIG = -6,   /* declared or actual size above a limit */
	D4_EHMAC = -7,	   /* HMAC mismatch */
	D4_ENOTFOUND = -8, /* no such record */
	D4_EEXIST = -9,	   /* record already exists */
	D4_EFULL = -10,	   /* store map full or queue full */
	D4_ECONFIG = -11,  /* configuration error */
	D4_ETLS = -12,	   /* TLS or certificate failure */
	D4_EJSON = -13,	   /* JSON syntax, depth or schema error */
	D4_ESTORE = -14,   /* storage engine error other than full */
	D4_EAGAIN = -15,   /* try again later (would block, paused) */
	D4_ECLOSED = -16,  /* peer or object closed */
	D4_ETIMEOUT = -17, /* deadline passed */
	D4_EPERM = -18,	   /* not allowed by policy (blocked, banned, not approved) */
	D4_EBUSY = -19,	   /* resource in use (second connection, lock held) */
	D4_ECORRUPT = -20, /* stored data fails its own consistency checks */
	D4_ENOTSUP = -21,  /* input of a kind this code does not handle (not malformed) */
	D4_E_LAST = -22
};

/* Returns a static, human-readable string; never NULL (unknown codes get a
 * generic text). Caller does not free. */
const char *d4_strerror(int err);

#endif
