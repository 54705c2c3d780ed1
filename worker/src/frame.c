/*
 * worker/src/frame.c
 *	  Frames of the invocation protocol (docs/shim-protocol.md).  A frame is
 *	  an 8-byte head (magic "CP", version, kind, payload length) and a
 *	  payload of big-endian u32 lengths each followed by its bytes:
 *
 *	  request:	method, path, query, header count, (name, value)*, body
 *	  response: status, header count, (name, value)*, logs, body
 *
 *	  Decoding is in place: the reader allocates the header array and the
 *	  payload (plus one byte) together, checks every field, then writes a NUL
 *	  after each field's bytes, over the first byte of the next length
 *	  (already read) or into the spare byte.  One allocation per frame, no
 *	  copy of the body.  Encoding copies the small parts into one buffer
 *	  and borrows the body and logs, written with one sendmsg.
 *
 *	  Every length is checked against the caps before anything is
 *	  allocated or sent, so a peer cannot make this side allocate more than
 *	  the caps allow.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "frame.h"

/* Payload bytes besides the fields' data and the headers. */
#define REQUEST_FIXED  20 /* method, path, query, count, body lengths */
#define RESPONSE_FIXED 16 /* status, count, logs and body lengths */
#define HEADER_FIXED   8  /* a header's two lengths */

static void
put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char) (v >> 24);
	p[1] = (unsigned char) (v >> 16);
	p[2] = (unsigned char) (v >> 8);
	p[3] = (unsigned char) v;
}

static uint32_t
get_u32(const unsigned char *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) |
		   ((uint32_t) p[2] << 8) | (uint32_t) p[3];
}

void
frame_limits_default(struct frame_limits *l)
{
	l->max_headers = FRAME_DEFAULT_MAX_HEADERS;
	l->max_header_bytes = FRAME_DEFAULT_MAX_HEADER_BYTES;
	l->max_body = FRAME_DEFAULT_MAX_BODY;
	l->max_logs = FRAME_DEFAULT_MAX_LOGS;
}

const char *
frame_strerror(int code)
{
	switch (code)
	{
		case FRAME_OK:
			return "no error";
		case FRAME_ECLOSED:
			return "connection closed";
		case FRAME_EIO:
			return "read or write failed";
		case FRAME_ENOMEM:
			return "out of memory";
		case FRAME_ETRUNCATED:
			return "connection closed inside a frame";
		case FRAME_EMAGIC:
			return "bad magic";
		case FRAME_EVERSION:
			return "unsupported protocol version";
		case FRAME_EKIND:
			return "unexpected frame kind";
		case FRAME_ETOOBIG:
			return "frame length over the limits";
		case FRAME_EHEADERS:
			return "too many headers";
		case FRAME_EHEADERBYTES:
			return "headers over the size limit";
		case FRAME_EBODY:
			return "body over the size limit";
		case FRAME_ELOGS:
			return "logs over the size limit";
		case FRAME_ESTATUS:
			return "status outside 100 to 599";
		case FRAME_EFIELD:
			return "a field runs past the end of the frame";
		case FRAME_ETRAILING:
			return "bytes after the end of the frame";
	}
	return "unknown frame error";
}

/* The largest payload limits allow for a frame of this kind. */
static uint64_t
frame_max_payload(int kind, const struct frame_limits *l)
{
	uint64_t n = (uint64_t) l->max_header_bytes +
				 (uint64_t) HEADER_FIXED * l->max_headers + l->max_body;

	if (kind == FRAME_KIND_REQUEST)
		return n + REQUEST_FIXED;
	return n + RESPONSE_FIXED + l->max_logs;
}

/*
 * frame_check_head: checks the first n (at most FRAME_HEAD_SIZE) bytes of a
 * head, so that a wrong first byte fails at once; with the whole head,
 * also the length, stored in *payload_len.
 */
static int
frame_check_head(const unsigned char *head, size_t n, int kind,
				 const struct frame_limits *l, uint32_t *payload_len)
{
	if ((n > 0 && head[0] != FRAME_MAGIC_0) ||
		(n > 1 && head[1] != FRAME_MAGIC_1))
		return FRAME_EMAGIC;
	if (n > 2 && head[2] != FRAME_VERSION)
		return FRAME_EVERSION;
	if (n > 3 && head[3] != kind)
		return FRAME_EKIND;
	if (n == FRAME_HEAD_SIZE)
	{
		uint32_t len = get_u32(head + 4);

		if (len > frame_max_payload(kind, l))
			return FRAME_ETOOBIG;
		*payload_len = len;
	}
	return FRAME_OK;
}

/*
 * frame_alloc: one block for a payload of len bytes: room for as many
 * headers as it can hold (each takes 8 bytes at least, and no more than
 * max_headers), the payload, and a spare byte for the last NUL.
 */
static char *
frame_alloc(uint32_t len, const struct frame_limits *l, size_t *room)
{
	size_t nmax = len / HEADER_FIXED;

	if (nmax > l->max_headers)
		nmax = l->max_headers;
	*room = nmax * sizeof(struct frame_header);
	return malloc(*room + (size_t) len + 1);
}

/*
 * Decoding.  A cursor walks the payload; a field is a length and that many
 * bytes, which must lie inside the payload.
 */
struct cursor
{
	const unsigned char *p;
	size_t				 left;
};

static int
cursor_u32(struct cursor *c, uint32_t *v)
{
	if (c->left < 4)
		return FRAME_EFIELD;
	*v = get_u32(c->p);
	c->p += 4;
	c->left -= 4;
	return FRAME_OK;
}

static int
cursor_bytes(struct cursor *c, const char **data, size_t *len)
{
	uint32_t n;

	if (cursor_u32(c, &n) != FRAME_OK || n > c->left)
		return FRAME_EFIELD;
	*data = (const char *) c->p;
	*len = n;
	c->p += n;
	c->left -= n;
	return FRAME_OK;
}

/*
 * decode_headers: the header count and the headers, into arr (room for
 * nroom).  Adds their bytes to *head_bytes and checks the caps.
 */
static int
decode_headers(struct cursor *c, const struct frame_limits *l,
			   struct frame_header *arr, size_t nroom, size_t *nheaders,
			   uint64_t *head_bytes)
{
	uint32_t n;
	int		 rc;

	if ((rc = cursor_u32(c, &n)) != FRAME_OK)
		return rc;
	if (n > l->max_headers)
		return FRAME_EHEADERS;
	if ((uint64_t) n * HEADER_FIXED > c->left || n > nroom)
		return FRAME_EFIELD;
	for (uint32_t i = 0; i < n; i++)
	{
		if ((rc = cursor_bytes(c, &arr[i].name, &arr[i].name_len)) !=
				FRAME_OK ||
			(rc = cursor_bytes(c, &arr[i].value, &arr[i].value_len)) !=
				FRAME_OK)
			return rc;
		*head_bytes += arr[i].name_len + arr[i].value_len;
	}
	if (*head_bytes > l->max_header_bytes)
		return FRAME_EHEADERBYTES;
	*nheaders = n;
	return FRAME_OK;
}

/* terminate: the NUL after a checked field (see the top of the file). */
static void
terminate(const char *s, size_t len)
{
	((char *) s)[len] = '\0';
}

static void
terminate_headers(const struct frame_header *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		terminate(h[i].name, h[i].name_len);
		terminate(h[i].value, h[i].value_len);
	}
}

/*
 * decode_request: parses the payload at buf + room (len bytes) into req,
 * its headers in the room at buf.  req points into buf but does not own it
 * yet.
 */
static int
decode_request(char *buf, size_t room, uint32_t len,
			   const struct frame_limits *l, struct frame_request *req)
{
	struct cursor c = {(const unsigned char *) buf + room, len};
	uint64_t	  head_bytes;
	int			  rc;

	memset(req, 0, sizeof(*req));
	req->headers = (struct frame_header *) buf;
	if ((rc = cursor_bytes(&c, &req->method, &req->method_len)) != FRAME_OK ||
		(rc = cursor_bytes(&c, &req->path, &req->path_len)) != FRAME_OK ||
		(rc = cursor_bytes(&c, &req->query, &req->query_len)) != FRAME_OK)
		return rc;
	head_bytes = (uint64_t) req->method_len + req->path_len + req->query_len;
	if ((rc = decode_headers(&c, l, req->headers,
							 room / sizeof(struct frame_header),
							 &req->nheaders, &head_bytes)) != FRAME_OK ||
		(rc = cursor_bytes(&c, &req->body, &req->body_len)) != FRAME_OK)
		return rc;
	if (req->body_len > l->max_body)
		return FRAME_EBODY;
	if (c.left != 0)
		return FRAME_ETRAILING;

	terminate(req->method, req->method_len);
	terminate(req->path, req->path_len);
	terminate(req->query, req->query_len);
	terminate_headers(req->headers, req->nheaders);
	terminate(req->body, req->body_len);
	if (req->nheaders == 0)
		req->headers = NULL;
	return FRAME_OK;
}

/* decode_response: as decode_request, for a response. */
static int
decode_response(char *buf, size_t room, uint32_t len,
				const struct frame_limits *l, struct frame_response *res)
{
	struct cursor c = {(const unsigned char *) buf + room, len};
	uint64_t	  head_bytes = 0;
	uint32_t	  status;
	int			  rc;

	memset(res, 0, sizeof(*res));
	res->headers = (struct frame_header *) buf;
	if ((rc = cursor_u32(&c, &status)) != FRAME_OK)
		return rc;
	if (status < 100 || status > 599)
		return FRAME_ESTATUS;
	res->status = (int) status;
	if ((rc = decode_headers(&c, l, res->headers,
							 room / sizeof(struct frame_header),
							 &res->nheaders, &head_bytes)) != FRAME_OK ||
		(rc = cursor_bytes(&c, &res->logs, &res->logs_len)) != FRAME_OK)
		return rc;
	if (res->logs_len > l->max_logs)
		return FRAME_ELOGS;
	if ((rc = cursor_bytes(&c, &res->body, &res->body_len)) != FRAME_OK)
		return rc;
	if (res->body_len > l->max_body)
		return FRAME_EBODY;
	if (c.left != 0)
		return FRAME_ETRAILING;

	terminate_headers(res->headers, res->nheaders);
	terminate(res->logs, res->logs_len);
	terminate(res->body, res->body_len);
	if (res->nheaders == 0)
		res->headers = NULL;
	return FRAME_OK;
}

void
frame_reader_init(struct frame_reader *r, int kind,
				  const struct frame_limits *limits)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->limits = limits;
}

void
frame_reader_reset(struct frame_reader *r)
{
	free(r->buf);
	frame_reader_init(r, r->kind, r->limits);
}

int
frame_reader_read(struct frame_reader *r, int fd)
{
	for (;;)
	{
		unsigned char *dst;
		size_t		   want;
		ssize_t		   n;
		int			   rc;

		if (r->have < FRAME_HEAD_SIZE)
		{
			dst = r->head + r->have;
			want = FRAME_HEAD_SIZE - r->have;
		}
		else
		{
			size_t got = r->have - FRAME_HEAD_SIZE;

			if (got == r->payload_len)
				return 1;
			dst = (unsigned char *) r->buf + r->room + got;
			want = r->payload_len - got;
		}

		n = read(fd, dst, want);
		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return FRAME_EIO;
		}
		if (n == 0)
			return r->have == 0 ? FRAME_ECLOSED : FRAME_ETRUNCATED;

		if (r->have >= FRAME_HEAD_SIZE)
		{
			r->have += (size_t) n;
			continue;
		}
		r->have += (size_t) n;
		rc = frame_check_head(r->head, r->have, r->kind, r->limits,
							  &r->payload_len);
		if (rc != FRAME_OK)
			return rc;
		if (r->have == FRAME_HEAD_SIZE)
		{
			r->buf = frame_alloc(r->payload_len, r->limits, &r->room);
			if (r->buf == NULL)
				return FRAME_ENOMEM;
		}
	}
}

int
frame_reader_take_request(struct frame_reader *r, struct frame_request *req)
{
	int rc;

	if (r->buf == NULL || r->have != FRAME_HEAD_SIZE + (size_t) r->payload_len)
		rc = FRAME_ETRUNCATED;
	else
		rc = decode_request(r->buf, r->room, r->payload_len, r->limits, req);
	if (rc == FRAME_OK)
	{
		req->storage = r->buf;
		r->buf = NULL;
	}
	else
		memset(req, 0, sizeof(*req));
	frame_reader_reset(r);
	return rc;
}

int
frame_reader_take_response(struct frame_reader *r, struct frame_response *res)
{
	int rc;

	if (r->buf == NULL || r->have != FRAME_HEAD_SIZE + (size_t) r->payload_len)
		rc = FRAME_ETRUNCATED;
	else
		rc = decode_response(r->buf, r->room, r->payload_len, r->limits, res);
	if (rc == FRAME_OK)
	{
		res->storage = r->buf;
		r->buf = NULL;
	}
	else
		memset(res, 0, sizeof(*res));
	frame_reader_reset(r);
	return rc;
}

/*
 * frame_load: a whole frame from memory into a reader, as if read: head
 * checks, then the payload copied into the reader's block.
 */
static int
frame_load(struct frame_reader *r, const void *frame, size_t len)
{
	const unsigned char *f = frame;
	size_t				 n = len < FRAME_HEAD_SIZE ? len : FRAME_HEAD_SIZE;
	int					 rc;

	memcpy(r->head, f, n);
	rc = frame_check_head(r->head, n, r->kind, r->limits, &r->payload_len);
	if (rc != FRAME_OK)
		return rc;
	if (len < FRAME_HEAD_SIZE ||
		len - FRAME_HEAD_SIZE < (size_t) r->payload_len)
		return len == 0 ? FRAME_ECLOSED : FRAME_ETRUNCATED;
	if (len - FRAME_HEAD_SIZE > (size_t) r->payload_len)
		return FRAME_ETRAILING;
	r->buf = frame_alloc(r->payload_len, r->limits, &r->room);
	if (r->buf == NULL)
		return FRAME_ENOMEM;
	if (r->payload_len > 0)
		memcpy(r->buf + r->room, f + FRAME_HEAD_SIZE, r->payload_len);
	r->have = len;
	return FRAME_OK;
}

int
frame_decode_request(const void *frame, size_t len,
					 const struct frame_limits *l, struct frame_request *req)
{
	struct frame_reader r;
	int					rc;

	frame_reader_init(&r, FRAME_KIND_REQUEST, l);
	rc = frame_load(&r, frame, len);
	if (rc == FRAME_OK)
		return frame_reader_take_request(&r, req);
	frame_reader_reset(&r);
	memset(req, 0, sizeof(*req));
	return rc;
}

int
frame_decode_response(const void *frame, size_t len,
					  const struct frame_limits *l, struct frame_response *res)
{
	struct frame_reader r;
	int					rc;

	frame_reader_init(&r, FRAME_KIND_RESPONSE, l);
	rc = frame_load(&r, frame, len);
	if (rc == FRAME_OK)
		return frame_reader_take_response(&r, res);
	frame_reader_reset(&r);
	memset(res, 0, sizeof(*res));
	return rc;
}

void
frame_request_free(struct frame_request *req)
{
	free(req->storage);
	memset(req, 0, sizeof(*req));
}

void
frame_response_free(struct frame_response *res)
{
	free(res->storage);
	memset(res, 0, sizeof(*res));
}

/*
 * Encoding.
 */

/* check_headers: count and bytes of headers against the caps. */
static int
check_headers(const struct frame_header *h, size_t n, uint64_t head_bytes,
			  const struct frame_limits *l)
{
	if (n > l->max_headers)
		return FRAME_EHEADERS;
	for (size_t i = 0; i < n; i++)
		head_bytes += (uint64_t) h[i].name_len + h[i].value_len;
	if (head_bytes > l->max_header_bytes)
		return FRAME_EHEADERBYTES;
	return FRAME_OK;
}

int
frame_check_request(const struct frame_request *req,
					const struct frame_limits  *l)
{
	uint64_t head_bytes =
		(uint64_t) req->method_len + req->path_len + req->query_len;
	int rc = check_headers(req->headers, req->nheaders, head_bytes, l);

	if (rc != FRAME_OK)
		return rc;
	if (req->body_len > l->max_body)
		return FRAME_EBODY;
	return FRAME_OK;
}

int
frame_check_response(const struct frame_response *res,
					 const struct frame_limits	 *l)
{
	int rc;

	if (res->status < 100 || res->status > 599)
		return FRAME_ESTATUS;
	if ((rc = check_headers(res->headers, res->nheaders, 0, l)) != FRAME_OK)
		return rc;
	if (res->logs_len > l->max_logs)
		return FRAME_ELOGS;
	if (res->body_len > l->max_body)
		return FRAME_EBODY;
	return FRAME_OK;
}

/* put_bytes: a field (length, then bytes) at p; returns the end. */
static unsigned char *
put_bytes(unsigned char *p, const char *data, size_t len)
{
	put_u32(p, (uint32_t) len);
	if (len > 0)
		memcpy(p + 4, data, len);
	return p + 4 + len;
}

static unsigned char *
put_headers(unsigned char *p, const struct frame_header *h, size_t n)
{
	put_u32(p, (uint32_t) n);
	p += 4;
	for (size_t i = 0; i < n; i++)
	{
		p = put_bytes(p, h[i].name, h[i].name_len);
		p = put_bytes(p, h[i].value, h[i].value_len);
	}
	return p;
}

static size_t
headers_size(const struct frame_header *h, size_t n)
{
	size_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += HEADER_FIXED + h[i].name_len + h[i].value_len;
	return s;
}

static void
put_head(unsigned char *p, int kind, uint64_t payload_len)
{
	p[0] = FRAME_MAGIC_0;
	p[1] = FRAME_MAGIC_1;
	p[2] = FRAME_VERSION;
	p[3] = (unsigned char) kind;
	put_u32(p + 4, (uint32_t) payload_len);
}

static void
writer_add(struct frame_writer *w, const void *data, size_t len)
{
	if (len == 0)
		return;
	w->iov[w->iovcnt].iov_base = (void *) data;
	w->iov[w->iovcnt].iov_len = len;
	w->iovcnt++;
}

int
frame_writer_request(struct frame_writer *w, const struct frame_request *req,
					 const struct frame_limits *l)
{
	size_t		   hsize;
	uint64_t	   payload;
	unsigned char *p;
	int			   rc;

	memset(w, 0, sizeof(*w));
	if ((rc = frame_check_request(req, l)) != FRAME_OK)
		return rc;
	hsize = FRAME_HEAD_SIZE + REQUEST_FIXED + req->method_len + req->path_len +
			req->query_len + headers_size(req->headers, req->nheaders);
	payload = (uint64_t) hsize - FRAME_HEAD_SIZE + req->body_len;
	if (payload > UINT32_MAX)
		return FRAME_ETOOBIG;
	w->head = malloc(hsize);
	if (w->head == NULL)
		return FRAME_ENOMEM;

	p = (unsigned char *) w->head;
	put_head(p, FRAME_KIND_REQUEST, payload);
	p += FRAME_HEAD_SIZE;
	p = put_bytes(p, req->method, req->method_len);
	p = put_bytes(p, req->path, req->path_len);
	p = put_bytes(p, req->query, req->query_len);
	p = put_headers(p, req->headers, req->nheaders);
	put_u32(p, (uint32_t) req->body_len);

	writer_add(w, w->head, hsize);
	writer_add(w, req->body, req->body_len);
	return FRAME_OK;
}

int
frame_writer_response(struct frame_writer *w, const struct frame_response *res,
					  const struct frame_limits *l)
{
	size_t		   first; /* through the logs' length */
	uint64_t	   payload;
	unsigned char *p;
	int			   rc;

	memset(w, 0, sizeof(*w));
	if ((rc = frame_check_response(res, l)) != FRAME_OK)
		return rc;
	first = FRAME_HEAD_SIZE + 12 + headers_size(res->headers, res->nheaders);
	payload =
		(uint64_t) first - FRAME_HEAD_SIZE + res->logs_len + 4 + res->body_len;
	if (payload > UINT32_MAX)
		return FRAME_ETOOBIG;
	w->head = malloc(first + 4);
	if (w->head == NULL)
		return FRAME_ENOMEM;

	p = (unsigned char *) w->head;
	put_head(p, FRAME_KIND_RESPONSE, payload);
	p += FRAME_HEAD_SIZE;
	put_u32(p, (uint32_t) res->status);
	p = put_headers(p + 4, res->headers, res->nheaders);
	put_u32(p, (uint32_t) res->logs_len);
	put_u32(p + 4, (uint32_t) res->body_len);

	writer_add(w, w->head, first);
	writer_add(w, res->logs, res->logs_len);
	writer_add(w, w->head + first, 4);
	writer_add(w, res->body, res->body_len);
	return FRAME_OK;
}

int
frame_writer_write(struct frame_writer *w, int fd)
{
	for (;;)
	{
		ssize_t n = -1;

		while (w->next < w->iovcnt && w->iov[w->next].iov_len == 0)
			w->next++;
		if (w->next == w->iovcnt)
			return 1;

		if (!w->not_socket)
		{
			struct msghdr m;

			memset(&m, 0, sizeof(m));
			m.msg_iov = &w->iov[w->next];
			m.msg_iovlen = (size_t) (w->iovcnt - w->next);
			n = sendmsg(fd, &m, MSG_NOSIGNAL);
			if (n < 0 && errno == ENOTSOCK)
				w->not_socket = 1;
		}
		if (w->not_socket)
			n = writev(fd, &w->iov[w->next], w->iovcnt - w->next);
		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return FRAME_EIO;
		}

		/* Short write: skip what went, resume mid-iov next time. */
		while (n > 0)
		{
			struct iovec *v = &w->iov[w->next];

			if ((size_t) n >= v->iov_len)
			{
				n -= (ssize_t) v->iov_len;
				v->iov_len = 0;
				w->next++;
			}
			else
			{
				v->iov_base = (char *) v->iov_base + n;
				v->iov_len -= (size_t) n;
				n = 0;
			}
		}
	}
}

void
frame_writer_free(struct frame_writer *w)
{
	free(w->head);
	memset(w, 0, sizeof(*w));
}

/* writer_flatten: the writer's bytes in one malloc'd buffer. */
static int
writer_flatten(struct frame_writer *w, char **out, size_t *outlen)
{
	size_t len = 0;
	char  *buf;

	for (int i = 0; i < w->iovcnt; i++)
		len += w->iov[i].iov_len;
	buf = malloc(len > 0 ? len : 1);
	if (buf == NULL)
		return FRAME_ENOMEM;
	*outlen = len;
	for (int i = 0; i < w->iovcnt; i++)
	{
		memcpy(buf, w->iov[i].iov_base, w->iov[i].iov_len);
		buf += w->iov[i].iov_len;
	}
	*out = buf - len;
	return FRAME_OK;
}

int
frame_encode_request(const struct frame_request *req,
					 const struct frame_limits *l, char **out, size_t *outlen)
{
	struct frame_writer w;
	int					rc = frame_writer_request(&w, req, l);

	if (rc == FRAME_OK)
		rc = writer_flatten(&w, out, outlen);
	frame_writer_free(&w);
	return rc;
}

int
frame_encode_response(const struct frame_response *res,
					  const struct frame_limits *l, char **out, size_t *outlen)
{
	struct frame_writer w;
	int					rc = frame_writer_response(&w, res, l);

	if (rc == FRAME_OK)
		rc = writer_flatten(&w, out, outlen);
	frame_writer_free(&w);
	return rc;
}
