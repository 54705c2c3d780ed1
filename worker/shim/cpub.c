/*
 * worker/shim/cpub.c
 *	  The functions of cpub.h a C function's handler calls: request headers,
 *	  the response's status, headers and body, and the logger; and the
 *	  response's life cycle for the serve loop (shim.h).
 *
 *	  The response enforces the platform's caps as it grows (the same
 *	  struct frame_limits the frames are checked against), so a handler
 *	  cannot buffer more than can be sent; going past them marks the
 *	  response failed, and the serve loop answers 500 with the reason in
 *	  the logs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "shim.h"

/* A body buffer larger than this is released between requests. */
#define BODY_KEEP (1024 * 1024)

void
cpub_response_init(struct cpub_response		 *res,
				   const struct frame_limits *limits)
{
	memset(res, 0, sizeof(*res));
	res->status = 200;
	res->limits = limits;
}

static void
response_clear_headers(struct cpub_response *res)
{
	for (size_t i = 0; i < res->nheaders; i++)
		free((char *) res->headers[i].name);
	res->nheaders = 0;
	res->header_bytes = 0;
}

void
cpub_response_reset(struct cpub_response *res)
{
	response_clear_headers(res);
	if (res->body_cap > BODY_KEEP)
	{
		free(res->body);
		res->body = NULL;
		res->body_cap = 0;
	}
	res->body_len = 0;
	res->status = 200;
	res->failed = NULL;
}

void
cpub_response_free(struct cpub_response *res)
{
	response_clear_headers(res);
	free(res->headers);
	free(res->body);
	memset(res, 0, sizeof(*res));
}

void
cpub_response_fail(struct cpub_response *res)
{
	response_clear_headers(res);
	res->body_len = 0;
	res->status = 500;
}

const char *
cpub_request_header(const struct cpub_request *req, const char *name)
{
	for (size_t i = 0; i < req->nheaders; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

int
cpub_response_set_status(struct cpub_response *res, int status)
{
	if (status < 100 || status > 599)
	{
		cpub_log("cpub: status %d is not from 100 to 599; left at %d", status,
				 res->status);
		errno = EINVAL;
		return -1;
	}
	res->status = status;
	return 0;
}

int
cpub_header_ok(const char *name, const char *value)
{
	static const char TCHAR[] =
		"!#$%&'*+-.^_`|~0123456789"
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

	if (name[0] == '\0' || strspn(name, TCHAR) != strlen(name))
		return 0;
	for (const unsigned char *v = (const unsigned char *) value; *v; v++)
		if ((*v < 0x20 && *v != '\t') || *v == 0x7f)
			return 0;
	return 1;
}

int
cpub_response_add_header(struct cpub_response *res, const char *name,
						 const char *value)
{
	size_t				 nl, vl;
	struct frame_header *h;
	char				*copy;

	if (name == NULL || value == NULL || !cpub_header_ok(name, value))
	{
		cpub_log("cpub: response header \"%.64s\" has a bad name or value; "
				 "left out",
				 name ? name : "(null)");
		errno = EINVAL;
		return -1;
	}
	nl = strlen(name);
	vl = strlen(value);
	if (res->nheaders + 1 > res->limits->max_headers)
	{
		res->failed = "too many response headers";
		errno = E2BIG;
		return -1;
	}
	if (res->header_bytes + nl + vl > res->limits->max_header_bytes)
	{
		res->failed = "response headers over the size limit";
		errno = E2BIG;
		return -1;
	}
	if (res->nheaders == res->headers_cap)
	{
		size_t ncap = res->headers_cap ? res->headers_cap * 2 : 8;
		struct frame_header *grown =
			realloc(res->headers, ncap * sizeof(*grown));

		if (grown == NULL)
			goto nomem;
		res->headers = grown;
		res->headers_cap = ncap;
	}
	copy = malloc(nl + vl + 2);
	if (copy == NULL)
		goto nomem;
	memcpy(copy, name, nl + 1);
	memcpy(copy + nl + 1, value, vl + 1);
	h = &res->headers[res->nheaders];
	h->name = copy;
	h->value = copy + nl + 1;
	h->name_len = nl;
	h->value_len = vl;
	res->nheaders++;
	res->header_bytes += nl + vl;
	return 0;

nomem:
	res->failed = "out of memory for a response header";
	errno = ENOMEM;
	return -1;
}

int
cpub_response_set_header(struct cpub_response *res, const char *name,
						 const char *value)
{
	size_t kept = 0;

	if (name == NULL || value == NULL || !cpub_header_ok(name, value))
		return cpub_response_add_header(res, name, value); /* reports */
	for (size_t i = 0; i < res->nheaders; i++)
	{
		if (strcasecmp(res->headers[i].name, name) == 0)
		{
			res->header_bytes -=
				res->headers[i].name_len + res->headers[i].value_len;
			free((char *) res->headers[i].name);
		}
		else
			res->headers[kept++] = res->headers[i];
	}
	res->nheaders = kept;
	return cpub_response_add_header(res, name, value);
}

/*
 * body_grow: room for extra more bytes of body and a NUL (vsnprintf's),
 * within the cap.  Returns 0, or -1 with res->failed and errno set.
 */
static int
body_grow(struct cpub_response *res, size_t extra)
{
	size_t need, ncap;
	char  *grown;

	/* body_len never exceeds max_body, so this cannot wrap. */
	if (extra > res->limits->max_body - res->body_len)
	{
		res->failed = "response body over the size limit";
		errno = EFBIG;
		return -1;
	}
	need = res->body_len + extra + 1;
	if (need <= res->body_cap)
		return 0;
	ncap = res->body_cap ? res->body_cap * 2 : 4096;
	if (ncap < need)
		ncap = need;
	if (ncap > (size_t) res->limits->max_body + 1)
		ncap = (size_t) res->limits->max_body + 1;
	grown = realloc(res->body, ncap);
	if (grown == NULL)
	{
		res->failed = "out of memory for the response body";
		errno = ENOMEM;
		return -1;
	}
	res->body = grown;
	res->body_cap = ncap;
	return 0;
}

int
cpub_response_write(struct cpub_response *res, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	if (body_grow(res, len) != 0)
		return -1;
	memcpy(res->body + res->body_len, data, len);
	res->body_len += len;
	return 0;
}

int
cpub_response_printf(struct cpub_response *res, const char *fmt, ...)
{
	va_list ap;
	int		n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if (body_grow(res, (size_t) n) != 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(res->body + res->body_len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	res->body_len += (size_t) n;
	return 0;
}

/* write_all: the whole buffer to fd, through short writes and EINTR. */
static void
write_all(int fd, const char *p, size_t len)
{
	while (len > 0)
	{
		ssize_t n = write(fd, p, len);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			return; /* a full capture buffer: the rest is dropped */
		}
		p += n;
		len -= (size_t) n;
	}
}

void
cpub_log(const char *fmt, ...)
{
	char	stack[1024];
	char   *line = stack;
	va_list ap;
	int		n;
	int		saved_errno = errno;

	va_start(ap, fmt);
	n = vsnprintf(stack, sizeof(stack) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		goto done;
	if ((size_t) n >= sizeof(stack) - 1)
	{
		line = malloc((size_t) n + 2);
		if (line == NULL)
		{
			/* Keep what fitted. */
			line = stack;
			n = (int) sizeof(stack) - 2;
		}
		else
		{
			va_start(ap, fmt);
			vsnprintf(line, (size_t) n + 1, fmt, ap);
			va_end(ap);
		}
	}
	if (n == 0 || line[n - 1] != '\n')
		line[n++] = '\n';
	write_all(STDERR_FILENO, line, (size_t) n);

done:
	if (line != stack)
		free(line);
	errno = saved_errno;
}
