/*
 * worker/src/frame.h
 *	  The frames of the invocation protocol between the worker and the shim
 *	  inside a function's container (docs/shim-protocol.md): encoding,
 *	  decoding and incremental reading and writing on a file descriptor.
 *
 *	  Plain libc: the same file is compiled into the worker and into every
 *	  C function's static binary.  Nothing here waits: with a non-blocking
 *	  descriptor the reader and the writer return 0 when they need the
 *	  descriptor to become readable or writable, and the caller polls with
 *	  its own deadline (docs/shim-protocol.md, "The worker's side", shows
 *	  the loop).
 */
#ifndef CPUB_FRAME_H
#define CPUB_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Every frame starts with these 8 bytes: magic "CP", version, kind, then
 * the payload's length as a big-endian u32. */
#define FRAME_MAGIC_0		0x43 /* 'C' */
#define FRAME_MAGIC_1		0x50 /* 'P' */
#define FRAME_VERSION		1
#define FRAME_KIND_REQUEST	0x51 /* 'Q' */
#define FRAME_KIND_RESPONSE 0x52 /* 'R' */
#define FRAME_HEAD_SIZE		8

/* Default caps (struct frame_limits). */
#define FRAME_DEFAULT_MAX_HEADERS	   100
#define FRAME_DEFAULT_MAX_HEADER_BYTES (64 * 1024)
#define FRAME_DEFAULT_MAX_BODY		   (6 * 1024 * 1024)
#define FRAME_DEFAULT_MAX_LOGS		   (256 * 1024)

/*
 * What can go wrong with a frame.  Functions return one of these (all
 * negative) on failure; frame_strerror names them.
 */
enum frame_error
{
	FRAME_OK = 0,
	FRAME_ECLOSED = -1,		  /* end of stream before a frame began */
	FRAME_EIO = -2,			  /* read or write failed: see errno */
	FRAME_ENOMEM = -3,		  /* out of memory */
	FRAME_ETRUNCATED = -4,	  /* end of stream inside a frame */
	FRAME_EMAGIC = -5,		  /* the first two bytes are not "CP" */
	FRAME_EVERSION = -6,	  /* a version this side does not speak */
	FRAME_EKIND = -7,		  /* the other kind than expected, or unknown */
	FRAME_ETOOBIG = -8,		  /* payload length over what the caps allow */
	FRAME_EHEADERS = -9,	  /* more headers than max_headers */
	FRAME_EHEADERBYTES = -10, /* head bytes over max_header_bytes */
	FRAME_EBODY = -11,		  /* body over max_body */
	FRAME_ELOGS = -12,		  /* logs over max_logs */
	FRAME_ESTATUS = -13,	  /* response status outside 100..599 */
	FRAME_EFIELD = -14,		  /* a field runs past the end of the payload */
	FRAME_ETRAILING = -15	  /* bytes after the last field */
};

/*
 * Caps a reader enforces before it allocates and a writer before it sends.
 * max_header_bytes counts the "head": for a request the method, path and
 * query plus every header name and value; for a response the header names
 * and values.
 */
struct frame_limits
{
	uint32_t max_headers;
	uint32_t max_header_bytes;
	uint32_t max_body;
	uint32_t max_logs; /* responses only */
};

/* One header; names may repeat.  Strings are NUL-terminated once decoded
 * (and may hold NUL bytes of their own: use the lengths). */
struct frame_header
{
	const char *name;
	size_t		name_len;
	const char *value;
	size_t		value_len;
};

/*
 * A request.  Filled by hand to send one; by frame_reader_take_request or
 * frame_decode_request when one arrives, in which case every pointer leads
 * into storage (one allocation), released by frame_request_free.
 */
struct frame_request
{
	const char			*method;
	size_t				 method_len;
	const char			*path;
	size_t				 path_len;
	const char			*query;
	size_t				 query_len;
	struct frame_header *headers;
	size_t				 nheaders;
	const char			*body;
	size_t				 body_len;
	char				*storage; /* decoded only: owns all of the above */
};

/* A response; same ownership as struct frame_request. */
struct frame_response
{
	int					 status;
	struct frame_header *headers;
	size_t				 nheaders;
	const char			*logs;
	size_t				 logs_len;
	const char			*body;
	size_t				 body_len;
	char				*storage;
};

/*
 * Reads one frame of a given kind, in as many calls as it takes.  The
 * limits must outlive the reader.  It never reads past the end of its
 * frame.
 */
struct frame_reader
{
	int						   kind;
	const struct frame_limits *limits;
	unsigned char			   head[FRAME_HEAD_SIZE];
	size_t					   have; /* bytes of this frame read so far */
	uint32_t				   payload_len;
	char					  *buf;	 /* header array room, then payload */
	size_t					   room; /* bytes of buf before the payload */
};

/* Writes one encoded frame, in as many calls as it takes.  The body and
 * logs are borrowed from the request or response it was made from, which
 * must stay unchanged until the frame is written. */
struct frame_writer
{
	char		*head; /* owned: every byte but the body and the logs */
	struct iovec iov[4];
	int			 iovcnt;
	int			 next; /* first iov with bytes left */
	int			 not_socket;
};

/* frame_limits_default: fills l with the FRAME_DEFAULT_* caps. */
extern void frame_limits_default(struct frame_limits *l);

/* frame_strerror: a static phrase for a frame_error ("bad magic" ...). */
extern const char *frame_strerror(int code);

/*
 * frame_reader_init: prepares r to read one frame of kind
 * FRAME_KIND_REQUEST or FRAME_KIND_RESPONSE under limits.
 *
 * frame_reader_read: reads what fd has of the frame.  Returns 1 once the
 * frame is complete, 0 when fd (non-blocking) has nothing more yet: poll
 * for POLLIN and call again.  On a blocking fd it returns only when the
 * frame is complete or on error.  EINTR is retried.  Fails with
 * FRAME_ECLOSED (end of stream before the first byte: the peer closed
 * between frames), FRAME_ETRUNCATED, FRAME_EIO (errno), FRAME_ENOMEM, or a
 * head error (FRAME_EMAGIC, FRAME_EVERSION, FRAME_EKIND as soon as the
 * offending byte arrives, FRAME_ETOOBIG before anything is allocated).
 * After an error the stream is out of step: close it.
 *
 * frame_reader_take_request/response: decodes the complete frame.  On
 * success the result owns the payload (free it with frame_*_free); either
 * way the reader is reset, ready for the next frame on the same stream.
 * Fails with FRAME_EFIELD, FRAME_ETRAILING, FRAME_EHEADERS,
 * FRAME_EHEADERBYTES, FRAME_EBODY, FRAME_ELOGS or FRAME_ESTATUS.
 *
 * frame_reader_reset: frees what r holds and makes it ready to read anew.
 */
extern void frame_reader_init(struct frame_reader *r, int kind,
							  const struct frame_limits *limits);
extern int	frame_reader_read(struct frame_reader *r, int fd);
extern int	frame_reader_take_request(struct frame_reader  *r,
									  struct frame_request *req);
extern int	frame_reader_take_response(struct frame_reader	 *r,
									   struct frame_response *res);
extern void frame_reader_reset(struct frame_reader *r);

/*
 * frame_check_request/response: whether a request or response fits the
 * limits (and a response's status is 100..599): FRAME_OK or the error a
 * reader under the same limits would give.
 */
extern int frame_check_request(const struct frame_request *req,
							   const struct frame_limits  *l);
extern int frame_check_response(const struct frame_response *res,
								const struct frame_limits	*l);

/*
 * frame_writer_request/response: encodes into w, copying everything but
 * the body and logs, which w borrows.  Fails with the frame_check_* errors
 * or FRAME_ENOMEM (w is then empty: frame_writer_free is still safe).
 *
 * frame_writer_write: writes what fd takes.  Returns 1 once the whole frame
 * is written, 0 when fd (non-blocking) is full: poll for POLLOUT and call
 * again.  EINTR is retried; a closed peer gives FRAME_EIO with errno EPIPE,
 * never SIGPIPE (for sockets; on a pipe the caller ignores SIGPIPE).
 *
 * frame_writer_free: releases what w owns.
 */
extern int	frame_writer_request(struct frame_writer		*w,
								 const struct frame_request *req,
								 const struct frame_limits	*l);
extern int	frame_writer_response(struct frame_writer		  *w,
								  const struct frame_response *res,
								  const struct frame_limits	  *l);
extern int	frame_writer_write(struct frame_writer *w, int fd);
extern void frame_writer_free(struct frame_writer *w);

/*
 * frame_encode_request/response: the whole frame in one malloc'd buffer
 * (*out, *outlen; the caller frees it).  Same errors as the writers.
 *
 * frame_decode_request/response: decodes one whole frame held in memory
 * (exactly len bytes: none is FRAME_ECLOSED, fewer FRAME_ETRUNCATED, more
 * FRAME_ETRAILING), with the reader's checks.  The result owns a copy; free
 * it with frame_*_free.
 */
extern int frame_encode_request(const struct frame_request *req,
								const struct frame_limits *l, char **out,
								size_t *outlen);
extern int frame_encode_response(const struct frame_response *res,
								 const struct frame_limits *l, char **out,
								 size_t *outlen);
extern int frame_decode_request(const void *frame, size_t len,
								const struct frame_limits *l,
								struct frame_request	  *req);
extern int frame_decode_response(const void *frame, size_t len,
								 const struct frame_limits *l,
								 struct frame_response	   *res);

/* frame_request_free/frame_response_free: release a decoded one (a no-op
 * for one filled by hand) and zero it. */
extern void frame_request_free(struct frame_request *req);
extern void frame_response_free(struct frame_response *res);

#endif /* CPUB_FRAME_H */
