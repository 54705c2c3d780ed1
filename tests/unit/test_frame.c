/*
 * tests/unit/test_frame.c
 *	  The invocation protocol's frames (worker/src/frame.c): the bytes of
 *	  docs/shim-protocol.md exactly, round trips (empty and binary bodies,
 *	  repeated headers, every cap reached exactly), every malformed frame
 *	  refused with its own error, and reading and writing through real
 *	  descriptors: a byte at a time, two frames back to back, a frame
 *	  larger than the socket buffer on non-blocking sockets, a closed
 *	  peer, and reads and writes interrupted by signals.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "tap.h"

static struct frame_limits defaults;

/* A frame built byte by byte, for the malformed ones. */
struct raw
{
	unsigned char b[1024];
	size_t		  n;
};

static void
raw_u32(struct raw *r, uint32_t v)
{
	r->b[r->n++] = (unsigned char) (v >> 24);
	r->b[r->n++] = (unsigned char) (v >> 16);
	r->b[r->n++] = (unsigned char) (v >> 8);
	r->b[r->n++] = (unsigned char) v;
}

static void
raw_str(struct raw *r, const char *s)
{
	size_t len = strlen(s);

	raw_u32(r, (uint32_t) len);
	memcpy(r->b + r->n, s, len);
	r->n += len;
}

/* raw_begin: a head of kind (length patched by raw_end). */
static void
raw_begin(struct raw *r, int kind)
{
	r->n = 0;
	r->b[r->n++] = FRAME_MAGIC_0;
	r->b[r->n++] = FRAME_MAGIC_1;
	r->b[r->n++] = FRAME_VERSION;
	r->b[r->n++] = (unsigned char) kind;
	raw_u32(r, 0);
}

static void
raw_end(struct raw *r)
{
	uint32_t len = (uint32_t) (r->n - FRAME_HEAD_SIZE);

	r->b[4] = (unsigned char) (len >> 24);
	r->b[5] = (unsigned char) (len >> 16);
	r->b[6] = (unsigned char) (len >> 8);
	r->b[7] = (unsigned char) len;
}

/* raw_request: GET / with nheaders "a: b" and body "hi", not ended. */
static void
raw_request(struct raw *r, uint32_t nheaders)
{
	raw_begin(r, FRAME_KIND_REQUEST);
	raw_str(r, "GET");
	raw_str(r, "/");
	raw_str(r, "");
	raw_u32(r, nheaders);
	for (uint32_t i = 0; i < nheaders; i++)
	{
		raw_str(r, "a");
		raw_str(r, "b");
	}
	raw_str(r, "hi");
}

static int
decode_raw_request(const struct raw *r, const struct frame_limits *l)
{
	struct frame_request req;
	int					 rc = frame_decode_request(r->b, r->n, l, &req);

	frame_request_free(&req);
	return rc;
}

static int
decode_raw_response(const struct raw *r, const struct frame_limits *l)
{
	struct frame_response res;
	int					  rc = frame_decode_response(r->b, r->n, l, &res);

	frame_response_free(&res);
	return rc;
}

static bool
bytes_eq(const char *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static bool
header_is(const struct frame_header *h, const char *name, const char *value)
{
	return bytes_eq(h->name, h->name_len, name, strlen(name)) &&
		   bytes_eq(h->value, h->value_len, value, strlen(value)) &&
		   h->name[h->name_len] == '\0' && h->value[h->value_len] == '\0';
}

static void
test_wire_bytes(void)
{
	/* docs/shim-protocol.md, "Examples". */
	static const unsigned char REQ[] = {
		'C', 'P', 1, 'Q', 0,   0,	0,	 0x1e, /* head, 30 bytes */
		0,	 0,	  0, 3,	  'G', 'E', 'T',	   /* method */
		0,	 0,	  0, 1,	  '/',				   /* path */
		0,	 0,	  0, 3,	  'a', '=', '1',	   /* query */
		0,	 0,	  0, 0,						   /* no headers */
		0,	 0,	  0, 3,	  'h', 0,	'i'		   /* body */
	};
	static const unsigned char RES[] = {
		'C', 'P', 1, 'R', 0,   0,	 0, 0x1e, /* head, 30 bytes */
		0,	 0,	  0, 200,					  /* status */
		0,	 0,	  0, 1,						  /* one header */
		0,	 0,	  0, 1,	  'a',				  /* name */
		0,	 0,	  0, 1,	  'b',				  /* value */
		0,	 0,	  0, 2,	  'l', '\n',		  /* logs */
		0,	 0,	  0, 2,	  'o', 'k'			  /* body */
	};
	struct frame_request  req;
	struct frame_response res;
	struct frame_header	  h = {"a", 1, "b", 1};
	char				 *out = NULL;
	size_t				  len = 0;

	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.method_len = 3;
	req.path = "/";
	req.path_len = 1;
	req.query = "a=1";
	req.query_len = 3;
	req.body = "h\0i";
	req.body_len = 3;
	ok(frame_encode_request(&req, &defaults, &out, &len) == FRAME_OK &&
		   bytes_eq(out, len, REQ, sizeof(REQ)),
	   "a request encodes to the documented bytes");
	free(out);

	memset(&res, 0, sizeof(res));
	res.status = 200;
	res.headers = &h;
	res.nheaders = 1;
	res.logs = "l\n";
	res.logs_len = 2;
	res.body = "ok";
	res.body_len = 2;
	ok(frame_encode_response(&res, &defaults, &out, &len) == FRAME_OK &&
		   bytes_eq(out, len, RES, sizeof(RES)),
	   "a response encodes to the documented bytes");
	free(out);

	ok(frame_decode_request(REQ, sizeof(REQ), &defaults, &req) == FRAME_OK &&
		   strcmp(req.method, "GET") == 0 && strcmp(req.path, "/") == 0 &&
		   strcmp(req.query, "a=1") == 0 && req.nheaders == 0 &&
		   req.headers == NULL && bytes_eq(req.body, req.body_len, "h\0i", 3),
	   "the documented request decodes");
	frame_request_free(&req);
	ok(frame_decode_response(RES, sizeof(RES), &defaults, &res) == FRAME_OK &&
		   res.status == 200 && res.nheaders == 1 &&
		   header_is(&res.headers[0], "a", "b") &&
		   strcmp(res.logs, "l\n") == 0 && strcmp(res.body, "ok") == 0,
	   "the documented response decodes");
	frame_response_free(&res);
}

static void
test_round_trips(void)
{
	struct frame_request  req, got;
	struct frame_response res, rgot;
	struct frame_header	  hs[4] = {
		  {"set-cookie", 10, "a=1", 3},
		  {"x-bin", 5, "v\0w", 3},
		  {"set-cookie", 10, "b=2", 3},
		  {"empty", 5, "", 0},
	  };
	char   bin[600];
	char  *out = NULL;
	size_t len = 0;
	int	   rc;

	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (char) (i % 256); /* NUL bytes at 0, 256, 512 */

	/* Everything empty. */
	memset(&req, 0, sizeof(req));
	rc = frame_encode_request(&req, &defaults, &out, &len);
	ok(rc == FRAME_OK && len == FRAME_HEAD_SIZE + 20,
	   "an empty request is 28 bytes");
	rc = frame_decode_request(out, len, &defaults, &got);
	ok(rc == FRAME_OK && got.method_len == 0 && got.method[0] == '\0' &&
		   got.path[0] == '\0' && got.query[0] == '\0' && got.nheaders == 0 &&
		   got.body != NULL && got.body_len == 0 && got.body[0] == '\0',
	   "an empty request round-trips to empty NUL-terminated strings");
	frame_request_free(&got);
	free(out);

	/* Binary body, repeated headers, a NUL inside a header value. */
	req.method = "POST";
	req.method_len = 4;
	req.path = "/a/b";
	req.path_len = 4;
	req.query = "x=1&x=2";
	req.query_len = 7;
	req.headers = hs;
	req.nheaders = 4;
	req.body = bin;
	req.body_len = sizeof(bin);
	rc = frame_encode_request(&req, &defaults, &out, &len);
	ok(rc == FRAME_OK, "a request with a binary body encodes");
	rc = frame_decode_request(out, len, &defaults, &got);
	ok(rc == FRAME_OK && strcmp(got.method, "POST") == 0 &&
		   strcmp(got.path, "/a/b") == 0 && strcmp(got.query, "x=1&x=2") == 0,
	   "method, path and query round-trip");
	ok(rc == FRAME_OK && bytes_eq(got.body, got.body_len, bin, sizeof(bin)) &&
		   got.body[got.body_len] == '\0',
	   "a body with NUL bytes round-trips byte for byte");
	ok(rc == FRAME_OK && got.nheaders == 4 &&
		   header_is(&got.headers[0], "set-cookie", "a=1") &&
		   header_is(&got.headers[2], "set-cookie", "b=2") &&
		   header_is(&got.headers[3], "empty", ""),
	   "repeated headers keep their order, an empty value stays");
	ok(rc == FRAME_OK &&
		   bytes_eq(got.headers[1].value, got.headers[1].value_len, "v\0w", 3),
	   "a header value with a NUL byte round-trips by its length");
	frame_request_free(&got);
	free(out);

	/* Responses. */
	memset(&res, 0, sizeof(res));
	res.status = 201;
	res.headers = hs;
	res.nheaders = 3;
	res.logs = "one\ntwo\n";
	res.logs_len = 8;
	res.body = bin;
	res.body_len = sizeof(bin);
	rc = frame_encode_response(&res, &defaults, &out, &len);
	ok(rc == FRAME_OK, "a response encodes");
	rc = frame_decode_response(out, len, &defaults, &rgot);
	ok(rc == FRAME_OK && rgot.status == 201 && rgot.nheaders == 3 &&
		   header_is(&rgot.headers[0], "set-cookie", "a=1") &&
		   header_is(&rgot.headers[2], "set-cookie", "b=2") &&
		   strcmp(rgot.logs, "one\ntwo\n") == 0 &&
		   bytes_eq(rgot.body, rgot.body_len, bin, sizeof(bin)),
	   "status, repeated headers, logs and a binary body round-trip");
	frame_response_free(&rgot);
	free(out);

	memset(&res, 0, sizeof(res));
	res.status = 204;
	rc = frame_encode_response(&res, &defaults, &out, &len);
	rc = rc == FRAME_OK ? frame_decode_response(out, len, &defaults, &rgot)
						: rc;
	ok(rc == FRAME_OK && len == FRAME_HEAD_SIZE + 16 && rgot.status == 204 &&
		   rgot.logs_len == 0 && rgot.logs[0] == '\0' && rgot.body_len == 0 &&
		   rgot.headers == NULL,
	   "a bare 204 round-trips (24 bytes)");
	frame_response_free(&rgot);
	free(out);

	/* A request filled by hand: freeing it touches nothing of ours. */
	frame_request_free(&req);
	ok(req.method == NULL && hs[0].name != NULL,
	   "freeing a request filled by hand only clears it");
}

static void
test_caps(void)
{
	struct frame_limits	  l = {3, 20, 10, 8};
	struct frame_header	  hs[4] = {{"a", 1, "12345", 5},
								   {"b", 1, "12345", 5},
								   {"c", 1, "1", 1},
								   {"d", 1, "", 0}};
	struct frame_request  req, got;
	struct frame_response res, rgot;
	char				 *out = NULL;
	size_t				  len = 0;
	int					  rc;

	/* GET / (4 bytes) + 6 + 6 + 2 + the query 2 = 20 head bytes. */
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.method_len = 3;
	req.path = "/";
	req.path_len = 1;
	req.query = "q=";
	req.query_len = 2;
	req.headers = hs;
	req.nheaders = 3;
	req.body = "0123456789";
	req.body_len = 10;
	rc = frame_encode_request(&req, &l, &out, &len);
	ok(rc == FRAME_OK, "a request exactly at every cap encodes");
	rc = frame_decode_request(out, len, &l, &got);
	ok(rc == FRAME_OK && got.nheaders == 3 && got.body_len == 10,
	   "and decodes under the same caps");
	frame_request_free(&got);
	free(out);

	/*
	 * One over each cap: the encoder refuses, and so does a decoder whose
	 * other caps leave room (else the frame's length is over their sum,
	 * which a reader refuses first, as the malformed cases below show).
	 */
	req.nheaders = 4;
	ok(frame_encode_request(&req, &l, &out, &len) == FRAME_EHEADERS,
	   "4 headers over max_headers 3: the encoder says too many headers");
	frame_encode_request(&req, &defaults, &out, &len);
	ok(frame_decode_request(out, len, &(struct frame_limits){3, 1000, 1000, 8},
							&got) == FRAME_EHEADERS &&
		   got.storage == NULL,
	   "and the decoder too, holding nothing");
	ok(frame_decode_request(out, len, &l, &got) == FRAME_ETOOBIG,
	   "under all the tight caps its length is already too big");
	free(out);

	req.nheaders = 3;
	req.query = "q=1"; /* 21 head bytes */
	req.query_len = 3;
	ok(frame_encode_request(&req, &l, &out, &len) == FRAME_EHEADERBYTES,
	   "21 head bytes over 20: the encoder refuses");
	frame_encode_request(&req, &defaults, &out, &len);
	ok(frame_decode_request(out, len, &(struct frame_limits){3, 20, 1000, 8},
							&got) == FRAME_EHEADERBYTES,
	   "and the decoder too");
	free(out);

	req.query_len = 2;
	req.body = "0123456789A";
	req.body_len = 11;
	ok(frame_encode_request(&req, &l, &out, &len) == FRAME_EBODY,
	   "an 11-byte body over max_body 10: the encoder refuses");
	frame_encode_request(&req, &defaults, &out, &len);
	ok(frame_decode_request(out, len, &(struct frame_limits){10, 100, 10, 8},
							&got) == FRAME_EBODY,
	   "and the decoder too");
	free(out);

	memset(&res, 0, sizeof(res));
	res.status = 200;
	res.logs = "12345678";
	res.logs_len = 8;
	res.body = "0123456789";
	res.body_len = 10;
	rc = frame_encode_response(&res, &l, &out, &len);
	rc = rc == FRAME_OK ? frame_decode_response(out, len, &l, &rgot) : rc;
	ok(rc == FRAME_OK && rgot.logs_len == 8 && rgot.body_len == 10,
	   "a response with logs and body at their caps round-trips");
	frame_response_free(&rgot);
	free(out);

	res.logs_len = 9;
	res.logs = "123456789";
	ok(frame_encode_response(&res, &l, &out, &len) == FRAME_ELOGS,
	   "9 bytes of logs over max_logs 8: the encoder refuses");
	frame_encode_response(&res, &defaults, &out, &len);
	ok(frame_decode_response(out, len, &l, &rgot) == FRAME_ELOGS,
	   "and the decoder too");
	free(out);

	res.logs_len = 0;
	res.status = 99;
	ok(frame_encode_response(&res, &l, &out, &len) == FRAME_ESTATUS,
	   "status 99: the encoder refuses");
	res.status = 600;
	ok(frame_encode_response(&res, &l, &out, &len) == FRAME_ESTATUS,
	   "status 600: the encoder refuses");
}

static void
test_malformed(void)
{
	struct frame_limits l = {4, 1024, 1024, 1024};
	struct raw			r;
	int					rc;

	raw_request(&r, 1);
	raw_end(&r);
	ok(decode_raw_request(&r, &l) == FRAME_OK, "the raw request is good");

	r.b[0] = 'X';
	ok(decode_raw_request(&r, &l) == FRAME_EMAGIC, "bad first byte: magic");
	r.b[0] = 'C';
	r.b[1] = 'Q';
	ok(decode_raw_request(&r, &l) == FRAME_EMAGIC, "bad second byte: magic");
	r.b[1] = 'P';
	r.b[2] = 2;
	ok(decode_raw_request(&r, &l) == FRAME_EVERSION, "version 2: version");
	r.b[2] = 0;
	ok(decode_raw_request(&r, &l) == FRAME_EVERSION, "version 0: version");
	r.b[2] = FRAME_VERSION;
	ok(decode_raw_response(&r, &l) == FRAME_EKIND,
	   "a request where a response is due: kind");
	r.b[3] = 'Z';
	ok(decode_raw_request(&r, &l) == FRAME_EKIND, "kind 'Z': kind");
	r.b[3] = FRAME_KIND_REQUEST;

	/* Lengths. */
	{
		size_t n = r.n;

		r.n = n - 1;
		ok(decode_raw_request(&r, &l) == FRAME_ETRUNCATED,
		   "one byte short: truncated");
		r.n = 3;
		ok(decode_raw_request(&r, &l) == FRAME_ETRUNCATED,
		   "three bytes of a head: truncated");
		r.n = 0;
		ok(decode_raw_request(&r, &l) == FRAME_ECLOSED,
		   "nothing at all: closed");
		r.n = n;
		r.b[r.n++] = 'x';
		ok(decode_raw_request(&r, &l) == FRAME_ETRAILING,
		   "a byte after the frame: trailing");
		raw_end(&r);
		ok(decode_raw_request(&r, &l) == FRAME_ETRAILING,
		   "a byte after the body inside the payload: trailing");
		r.n = n;
		raw_end(&r);
	}
	r.b[4] = 0xff;
	r.b[5] = 0xff;
	r.b[6] = 0xff;
	r.b[7] = 0xff;
	ok(decode_raw_request(&r, &l) == FRAME_ETOOBIG,
	   "a 4 GiB length: over the caps before anything is allocated");
	{
		/* The largest payload the caps allow, and one more. */
		uint32_t max = 20 + 1024 + 8 * 4 + 1024;
		uint32_t v[2] = {max, max + 1};

		for (int i = 0; i < 2; i++)
		{
			r.b[4] = (unsigned char) (v[i] >> 24);
			r.b[5] = (unsigned char) (v[i] >> 16);
			r.b[6] = (unsigned char) (v[i] >> 8);
			r.b[7] = (unsigned char) v[i];
			rc = decode_raw_request(&r, &l);
			ok(rc == (i == 0 ? FRAME_ETRUNCATED : FRAME_ETOOBIG),
			   "a length of %u: %s", v[i], frame_strerror(rc));
		}
	}

	/* Fields. */
	raw_begin(&r, FRAME_KIND_REQUEST);
	raw_end(&r);
	ok(decode_raw_request(&r, &l) == FRAME_EFIELD,
	   "an empty payload: a field runs past the end");
	raw_begin(&r, FRAME_KIND_REQUEST);
	raw_u32(&r, 1000);
	raw_str(&r, "GET");
	raw_end(&r);
	ok(decode_raw_request(&r, &l) == FRAME_EFIELD,
	   "a method length past the end: field");
	raw_request(&r, 1);
	r.n -= 3; /* cut "hi" and the last byte of its length */
	raw_end(&r);
	ok(decode_raw_request(&r, &l) == FRAME_EFIELD, "a cut body length: field");
	raw_request(&r, 5);
	raw_end(&r);
	ok(decode_raw_request(&r, &l) == FRAME_EHEADERS,
	   "5 headers over max_headers 4: too many headers");
	raw_request(&r, 0);
	r.b[8 + 7 + 5 + 4] = 0xff; /* the count: 0xff0000ff */
	r.b[8 + 7 + 5 + 4 + 3] = 0xff;
	raw_end(&r);
	ok(decode_raw_request(&r, &l) == FRAME_EHEADERS,
	   "a header count of 4 billion: too many headers");
	raw_begin(&r, FRAME_KIND_REQUEST);
	raw_str(&r, "GET");
	raw_str(&r, "/");
	raw_str(&r, "");
	raw_u32(&r, 3); /* 3 headers announced, 1 there */
	raw_str(&r, "a");
	raw_str(&r, "b");
	raw_end(&r);
	ok(decode_raw_request(&r, &l) == FRAME_EFIELD,
	   "fewer headers than announced: field");

	/* Responses. */
	raw_begin(&r, FRAME_KIND_RESPONSE);
	raw_u32(&r, 200);
	raw_u32(&r, 0);
	raw_str(&r, "log");
	raw_str(&r, "body");
	raw_end(&r);
	ok(decode_raw_response(&r, &l) == FRAME_OK, "the raw response is good");
	r.b[11] = 99;
	ok(decode_raw_response(&r, &l) == FRAME_ESTATUS, "status 99: status");
	r.b[10] = 2;
	r.b[11] = 88; /* 600 */
	ok(decode_raw_response(&r, &l) == FRAME_ESTATUS, "status 600: status");
	r.b[10] = 0;
	r.b[11] = 200;
	r.b[r.n++] = 0;
	raw_end(&r);
	ok(decode_raw_response(&r, &l) == FRAME_ETRAILING,
	   "a byte after a response's body: trailing");
	raw_begin(&r, FRAME_KIND_RESPONSE);
	raw_u32(&r, 200);
	raw_u32(&r, 0);
	raw_str(&r, "log");
	raw_end(&r);
	ok(decode_raw_response(&r, &l) == FRAME_EFIELD,
	   "a response without its body: field");
}

/* A pair of connected sockets, non-blocking when asked. */
static void
make_pair(int sv[2], bool nonblocking)
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
	{
		perror("socketpair");
		exit(1);
	}
	if (nonblocking)
	{
		fcntl(sv[0], F_SETFL, O_NONBLOCK);
		fcntl(sv[1], F_SETFL, O_NONBLOCK);
	}
}

static void
test_reader(void)
{
	struct frame_reader	 r;
	struct frame_request req;
	struct raw			 raw;
	int					 sv[2];
	int					 rc;
	int					 zeros = 0;
	bool				 seen_done = false;

	/* A byte at a time through a non-blocking pipe. */
	raw_request(&raw, 2);
	raw_end(&raw);
	{
		int p[2];

		if (pipe(p) != 0)
			exit(1);
		fcntl(p[0], F_SETFL, O_NONBLOCK);
		frame_reader_init(&r, FRAME_KIND_REQUEST, &defaults);
		ok(frame_reader_read(&r, p[0]) == 0,
		   "nothing there yet: the reader asks for more");
		for (size_t i = 0; i < raw.n; i++)
		{
			if (write(p[1], raw.b + i, 1) != 1)
				exit(1);
			rc = frame_reader_read(&r, p[0]);
			if (rc == 0)
				zeros++;
			else if (rc == 1 && i == raw.n - 1)
				seen_done = true;
		}
		ok(zeros == (int) raw.n - 1 && seen_done,
		   "a frame fed a byte at a time: 0 for %d bytes, then done", zeros);
		rc = frame_reader_take_request(&r, &req);
		ok(rc == FRAME_OK && req.nheaders == 2 && strcmp(req.body, "hi") == 0,
		   "and it decodes");
		frame_request_free(&req);

		/* EOF in every position. */
		ok(frame_reader_read(&r, p[0]) == 0, "between frames: more wanted");
		if (write(p[1], raw.b, 5) != 5)
			exit(1);
		ok(frame_reader_read(&r, p[0]) == 0, "part of a head: more wanted");
		close(p[1]);
		ok(frame_reader_read(&r, p[0]) == FRAME_ETRUNCATED,
		   "end of stream inside a head: truncated");
		frame_reader_reset(&r);
		ok(frame_reader_read(&r, p[0]) == FRAME_ECLOSED,
		   "end of stream between frames: closed");
		close(p[0]);
	}

	/* Garbage is refused at its first byte. */
	make_pair(sv, true);
	frame_reader_init(&r, FRAME_KIND_REQUEST, &defaults);
	if (write(sv[1], "G", 1) != 1)
		exit(1);
	ok(frame_reader_read(&r, sv[0]) == FRAME_EMAGIC,
	   "one byte of \"GET / HTTP/1.1\": bad magic at once");
	frame_reader_reset(&r);

	/* Two frames back to back: the reader stops at the end of each. */
	{
		unsigned char two[2 * sizeof(raw.b)];

		memcpy(two, raw.b, raw.n);
		memcpy(two + raw.n, raw.b, raw.n);
		two[raw.n + 8 + 4] = 'P'; /* the second one is a PET */
		if (write(sv[1], two, 2 * raw.n) != (ssize_t) (2 * raw.n))
			exit(1);
		rc = frame_reader_read(&r, sv[0]);
		rc = rc == 1 ? frame_reader_take_request(&r, &req) : rc;
		ok(rc == FRAME_OK && strcmp(req.method, "GET") == 0,
		   "the first of two frames in the socket");
		frame_request_free(&req);
		rc = frame_reader_read(&r, sv[0]);
		rc = rc == 1 ? frame_reader_take_request(&r, &req) : rc;
		ok(rc == FRAME_OK && strcmp(req.method, "PET") == 0,
		   "then the second");
		frame_request_free(&req);
	}

	/* EOF inside a payload. */
	if (write(sv[1], raw.b, raw.n - 2) != (ssize_t) raw.n - 2)
		exit(1);
	close(sv[1]);
	rc = frame_reader_read(&r, sv[0]);
	ok(rc == FRAME_ETRUNCATED, "end of stream inside a payload: truncated");
	frame_reader_reset(&r);
	close(sv[0]);
}

static void
test_big_nonblocking(void)
{
	struct frame_writer	  w;
	struct frame_reader	  r;
	struct frame_response res, got;
	char				 *body = malloc(FRAME_DEFAULT_MAX_BODY);
	char				 *logs = malloc(FRAME_DEFAULT_MAX_LOGS);
	int					  sv[2];
	int					  wrc = 0, rrc = 0, wzeros = 0, rzeros = 0;

	for (size_t i = 0; i < FRAME_DEFAULT_MAX_BODY; i++)
		body[i] = (char) (i * 7);
	memset(logs, 'l', FRAME_DEFAULT_MAX_LOGS);
	memset(&res, 0, sizeof(res));
	res.status = 200;
	res.body = body;
	res.body_len = FRAME_DEFAULT_MAX_BODY;
	res.logs = logs;
	res.logs_len = FRAME_DEFAULT_MAX_LOGS;

	make_pair(sv, true);
	ok(frame_writer_response(&w, &res, &defaults) == FRAME_OK,
	   "a 6 MiB response with 256 KiB of logs encodes");
	frame_reader_init(&r, FRAME_KIND_RESPONSE, &defaults);
	while (wrc != 1 || rrc != 1)
	{
		if (wrc == 0 && (wrc = frame_writer_write(&w, sv[1])) == 0)
			wzeros++;
		if (rrc == 0 && (rrc = frame_reader_read(&r, sv[0])) == 0)
			rzeros++;
		if (wrc < 0 || rrc < 0)
			break;
	}
	ok(wrc == 1 && rrc == 1 && wzeros > 0 && rzeros > 0,
	   "through a non-blocking socket: written and read in pieces "
	   "(%d and %d waits)",
	   wzeros, rzeros);
	ok(frame_reader_take_response(&r, &got) == FRAME_OK &&
		   bytes_eq(got.body, got.body_len, body, FRAME_DEFAULT_MAX_BODY) &&
		   bytes_eq(got.logs, got.logs_len, logs, FRAME_DEFAULT_MAX_LOGS),
	   "and arrives whole");
	frame_response_free(&got);
	frame_writer_free(&w);

	/* A closed peer: EPIPE, and no SIGPIPE kills us. */
	close(sv[0]);
	frame_writer_response(&w, &res, &defaults);
	wrc = frame_writer_write(&w, sv[1]);
	ok(wrc == FRAME_EIO && errno == EPIPE,
	   "writing to a closed peer: an error with EPIPE, not SIGPIPE");
	frame_writer_free(&w);
	close(sv[1]);
	free(body);
	free(logs);
}

static volatile sig_atomic_t alarms;

static void
on_alarm(int sig)
{
	(void) sig;
	alarms++;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * Blocking reads and writes under a 2 ms interval timer whose handler
 * does not restart system calls: a child sends the parent a request in
 * two parts 100 ms apart, then takes a big response slowly.
 */
static void
test_eintr(void)
{
	struct frame_request  req;
	struct frame_response res;
	struct frame_reader	  r;
	struct frame_writer	  w;
	struct sigaction	  sa;
	struct itimerval	  it = {{0, 2000}, {0, 2000}};
	struct raw			  raw;
	char				 *body = malloc(1 << 20);
	int					  sv[2];
	int					  rc, status = -1;
	pid_t				  pid;

	raw_request(&raw, 3);
	raw_end(&raw);
	memset(body, 'b', 1 << 20);
	make_pair(sv, false);
	fflush(stdout);
	pid = fork();
	if (pid == 0)
	{
		struct frame_reader	  cr;
		struct frame_response cres;
		bool				  good;

		close(sv[0]);
		memset(&cres, 0, sizeof(cres));
		if (write(sv[1], raw.b, 10) != 10)
			_exit(2);
		sleep_ms(100);
		if (write(sv[1], raw.b + 10, raw.n - 10) != (ssize_t) raw.n - 10)
			_exit(2);
		sleep_ms(100); /* the parent's writer is blocked meanwhile */
		frame_reader_init(&cr, FRAME_KIND_RESPONSE, &defaults);
		good = frame_reader_read(&cr, sv[1]) == 1 &&
			   frame_reader_take_response(&cr, &cres) == FRAME_OK &&
			   cres.body_len == (1 << 20);
		/* Clean for valgrind, whose --error-exitcode would be ours. */
		frame_response_free(&cres);
		free(body);
		_exit(good ? 0 : 1);
	}
	close(sv[1]);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);

	frame_reader_init(&r, FRAME_KIND_REQUEST, &defaults);
	rc = frame_reader_read(&r, sv[0]);
	rc = rc == 1 ? frame_reader_take_request(&r, &req) : rc;
	ok(rc == FRAME_OK && req.nheaders == 3 && alarms > 10,
	   "a blocking read through %d signals gets the whole request",
	   (int) alarms);
	frame_request_free(&req);

	memset(&res, 0, sizeof(res));
	res.status = 200;
	res.body = body;
	res.body_len = 1 << 20;
	alarms = 0;
	frame_writer_response(&w, &res, &defaults);
	rc = frame_writer_write(&w, sv[0]);
	frame_writer_free(&w);

	it.it_value.tv_usec = 0;
	it.it_interval.tv_usec = 0;
	setitimer(ITIMER_REAL, &it, NULL);
	signal(SIGALRM, SIG_DFL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	ok(rc == 1 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && alarms > 10,
	   "a blocking write through %d signals sends the whole response",
	   (int) alarms);
	close(sv[0]);
	free(body);
}

/*
 * The worker's side, as docs/shim-protocol.md shows it: a non-blocking
 * socket, frame_writer_request + frame_writer_write, then
 * frame_reader_read + frame_reader_take_response with one reader reused
 * for every response, each wait a poll under the caller's own deadline.
 * The peer is a forked process playing a shim that answers slowly, dies
 * before answering, dies half-way through an answer, or never answers.
 */
#define WORKER_TIMEOUT (-100)

static long
ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
		   (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* worker_wait: poll for events until deadline_ms after t0; 1 or 0. */
static int
worker_wait(int fd, short events, const struct timespec *t0, long deadline_ms)
{
	for (;;)
	{
		struct pollfd p = {.fd = fd, .events = events};
		long		  left = deadline_ms - ms_since(t0);
		int			  rc;

		if (left <= 0)
			return 0;
		rc = poll(&p, 1, (int) left);
		if (rc < 0 && errno == EINTR)
			continue;
		return rc > 0;
	}
}

/*
 * worker_call: one request and its response on fd, within deadline_ms.
 * FRAME_OK (res filled), a frame error, or WORKER_TIMEOUT.  *waits counts
 * the polls that found the socket not ready.
 */
static int
worker_call(int fd, const struct frame_request *req, struct frame_reader *r,
			struct frame_response *res, long deadline_ms, int *waits)
{
	struct frame_writer w;
	struct timespec		t0;
	int					rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(res, 0, sizeof(*res));
	if ((rc = frame_writer_request(&w, req, &defaults)) != FRAME_OK)
		return rc;
	while ((rc = frame_writer_write(&w, fd)) == 0)
	{
		(*waits)++;
		if (!worker_wait(fd, POLLOUT, &t0, deadline_ms))
		{
			frame_writer_free(&w);
			return WORKER_TIMEOUT;
		}
	}
	frame_writer_free(&w);
	if (rc < 0)
		return rc;
	while ((rc = frame_reader_read(r, fd)) == 0)
	{
		(*waits)++;
		if (!worker_wait(fd, POLLIN, &t0, deadline_ms))
		{
			frame_reader_reset(r);
			return WORKER_TIMEOUT;
		}
	}
	if (rc == 1)
		return frame_reader_take_response(r, res);
	frame_reader_reset(r);
	return rc;
}

/*
 * peer_shim: serves fd (blocking) until it closes: echoes each request's
 * body and path, written in three parts 20 ms apart; "/die-mid" writes
 * half a response and exits, "/die-before" exits, "/stall" sleeps 2 s.
 */
static void
peer_shim(int fd)
{
	struct frame_reader	 r;
	struct frame_request req;

	frame_reader_init(&r, FRAME_KIND_REQUEST, &defaults);
	while (frame_reader_read(&r, fd) == 1 &&
		   frame_reader_take_request(&r, &req) == FRAME_OK)
	{
		struct frame_response res;
		struct frame_header	  h = {"x-path", 6, req.path, req.path_len};
		char				 *out = NULL;
		size_t				  len = 0, a, b;

		if (strcmp(req.path, "/die-before") == 0)
			_exit(0);
		if (strcmp(req.path, "/stall") == 0)
			sleep_ms(2000);
		memset(&res, 0, sizeof(res));
		res.status = 200;
		res.headers = &h;
		res.nheaders = 1;
		res.logs = "served\n";
		res.logs_len = 7;
		res.body = req.body;
		res.body_len = req.body_len;
		if (frame_encode_response(&res, &defaults, &out, &len) != FRAME_OK)
			_exit(2);
		a = len / 3;
		b = 2 * len / 3;
		if (strcmp(req.path, "/die-mid") == 0)
		{
			if (write(fd, out, len / 2) != (ssize_t) (len / 2))
				_exit(2);
			_exit(0);
		}
		if (write(fd, out, a) != (ssize_t) a)
			_exit(2);
		sleep_ms(20);
		if (write(fd, out + a, b - a) != (ssize_t) (b - a))
			_exit(2);
		sleep_ms(20);
		if (write(fd, out + b, len - b) != (ssize_t) (len - b))
			_exit(2);
		free(out);
		frame_request_free(&req);
	}
	_exit(0);
}

/* peer_start: a forked peer_shim on one end of a socketpair; the other end,
 * non-blocking, in *fd. */
static pid_t
peer_start(int *fd)
{
	int	  sv[2];
	pid_t pid;

	make_pair(sv, false);
	fflush(stdout);
	pid = fork();
	if (pid == 0)
	{
		close(sv[0]);
		peer_shim(sv[1]);
	}
	close(sv[1]);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	*fd = sv[0];
	return pid;
}

static void
test_worker_side(void)
{
	struct frame_request  req;
	struct frame_response res;
	struct frame_reader	  r;
	char				 *body = malloc(1 << 20);
	int					  fd, rc, waits = 0, good = 0;
	pid_t				  pid;
	struct timespec		  t0;

	for (size_t i = 0; i < (1 << 20); i++)
		body[i] = (char) (i % 251); /* NULs included */
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.method_len = 4;
	req.path = "/echo";
	req.path_len = 5;
	req.body = body;
	req.body_len = 1 << 20;

	pid = peer_start(&fd);
	frame_reader_init(&r, FRAME_KIND_RESPONSE, &defaults);
	for (int i = 0; i < 3; i++)
	{
		rc = worker_call(fd, &req, &r, &res, 5000, &waits);
		if (rc == FRAME_OK && res.status == 200 &&
			bytes_eq(res.body, res.body_len, body, 1 << 20) &&
			strcmp(res.logs, "served\n") == 0 &&
			strcmp(res.headers[0].value, "/echo") == 0)
			good++;
		frame_response_free(&res);
	}
	ok(good == 3 && waits > 3,
	   "three 1 MiB round trips on one non-blocking connection, one reader "
	   "reused, answers in slow parts (%d polls)",
	   waits);

	req.path = "/die-mid";
	req.path_len = 8;
	req.body_len = 10;
	rc = worker_call(fd, &req, &r, &res, 5000, &waits);
	ok(rc == FRAME_ETRUNCATED && res.storage == NULL,
	   "the peer dies half-way through a response: truncated (%s)",
	   frame_strerror(rc));
	close(fd);
	waitpid(pid, NULL, 0);

	pid = peer_start(&fd);
	req.path = "/die-before";
	req.path_len = 11;
	rc = worker_call(fd, &req, &r, &res, 5000, &waits);
	ok(rc == FRAME_ECLOSED, "the peer dies before answering: closed (%s)",
	   frame_strerror(rc));
	waitpid(pid, NULL, 0);
	req.path = "/echo";
	req.path_len = 5;
	req.body_len = 1 << 20;
	rc = worker_call(fd, &req, &r, &res, 5000, &waits);
	ok(rc == FRAME_EIO && (errno == EPIPE || errno == ECONNRESET),
	   "a 1 MiB request to a dead peer: an error with EPIPE, no SIGPIPE "
	   "(%s)",
	   strerror(errno));
	close(fd);

	pid = peer_start(&fd);
	req.path = "/stall";
	req.path_len = 6;
	req.body_len = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = worker_call(fd, &req, &r, &res, 200, &waits);
	ok(rc == WORKER_TIMEOUT && ms_since(&t0) >= 200 && ms_since(&t0) < 1500,
	   "a peer that does not answer: the caller's deadline ends the wait");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(fd);
	free(body);
}

static void
test_strerror(void)
{
	bool distinct = true;

	for (int a = FRAME_ETRAILING; a <= FRAME_OK; a++)
		for (int b = a + 1; b <= FRAME_OK; b++)
			if (strcmp(frame_strerror(a), frame_strerror(b)) == 0)
				distinct = false;
	ok(distinct && strcmp(frame_strerror(-99), "unknown frame error") == 0,
	   "every error has a phrase of its own");
}

int
main(void)
{
	/* A test that hangs fails instead. */
	alarm(120);
	frame_limits_default(&defaults);
	ok(defaults.max_headers == 100 && defaults.max_header_bytes == 65536 &&
		   defaults.max_body == 6 * 1024 * 1024 &&
		   defaults.max_logs == 256 * 1024,
	   "default caps: 100 headers, 64 KiB of head, 6 MiB body, 256 KiB logs");
	test_wire_bytes();
	test_round_trips();
	test_caps();
	test_malformed();
	test_reader();
	test_big_nonblocking();
	test_eintr();
	test_worker_side();
	test_strerror();
	return done_testing();
}
