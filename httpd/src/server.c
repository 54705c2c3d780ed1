/*
 * httpd/src/server.c
 *	  The libmicrohttpd daemon: accepts connections, finds each request's
 *	  route, collects its body within the route's limit, calls the route's
 *	  handler, and logs and counts every request when it completes.  Also
 *	  the replies every handler uses, including the one error format and
 *	  the SQLSTATE to HTTP status map.
 *
 *	  Threads: MHD's own pool (setting threads), each with its epoll loop.
 *	  Handlers block on the database; a request that must wait for a
 *	  function is suspended instead (dispatch.c), holding no thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "dispatch.h"
#include "handlers.h"
#include "log.h"
#include "metrics.h"
#include "server.h"

struct config config;

static struct MHD_Daemon *daemon_handle;
static int	 active_requests; /* between on_uri and on_completed */
static char *tls_cert_pem;
static char *tls_key_pem;

struct MHD_Daemon *
server_daemon(void)
{
	return daemon_handle;
}

/* --- request ids ------------------------------------------------------- */

static __thread unsigned long long rng_state;

static unsigned long long
rng_next(void)
{
	unsigned long long x = rng_state;

	if (x == 0)
	{
		if (getrandom(&x, sizeof(x), 0) != sizeof(x) || x == 0)
			x = (unsigned long long) time(NULL) ^ (unsigned long long) &x;
	}
	/* xorshift64*: request ids need to be unique, not secret */
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* A client's X-Request-Id is kept when it is short and plain. */
static bool
request_id_acceptable(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
			  (s[n] >= '0' && s[n] <= '9') || s[n] == '-' || s[n] == '_' ||
			  s[n] == '.'))
			return false;
	return n > 0 && n <= 32;
}

/* --- access to the request --------------------------------------------- */

const char *
request_header(struct request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *
request_query_arg(struct request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *
request_bearer(struct request *req)
{
	const char *h = request_header(req, MHD_HTTP_HEADER_AUTHORIZATION);

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return *h ? h : NULL;
}

/* --- replies ------------------------------------------------------------ */

int
error_status(const char *s)
{
	static const struct
	{
		const char *state;
		int			status;
	} exact[] = {
		{"23502", 400}, {"23514", 400}, {"42501", 403}, {"P0002", 404},
		{"23505", 409}, {"23503", 409}, {"55P03", 409}, {"54Q01", 429},
		{"54Q04", 429}, {"54Q05", 429}, {"54000", 413}, {"54Q02", 413},
		{"54Q03", 413}, {"40001", 503}, {"40P01", 503}, {"55Q04", 503},
		{"57014", 504}, {"58Q01", 502}, {"58Q02", 502}, {"58Q03", 502},
		{"58Q04", 502},
	};

	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (strcmp(s, exact[i].state) == 0)
			return exact[i].status;
	if (strncmp(s, "22", 2) == 0)
		return 400;
	if (strncmp(s, "28", 2) == 0)
		return 401;
	if (strncmp(s, "54", 2) == 0)
		return 429;
	if (strncmp(s, "53", 2) == 0 || strncmp(s, "08", 2) == 0 ||
		strncmp(s, "57P", 3) == 0)
		return 503;
	return 500;
}

int
reply(struct request *req, struct MHD_Response *resp, int status)
{
	enum MHD_Result rc;

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "X-Request-Id", req->id);
	if (req->close_after)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	rc = MHD_queue_response(req->conn, (unsigned) status, resp);
	MHD_destroy_response(resp);
	req->status = status;
	req->state = REQ_ANSWERED;
	return rc;
}

int
reply_json(struct request *req, int status, const char *body, size_t len)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, (void *) body,
										   MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	if (len > 0)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
								"application/json");
	req->bytes = len;
	return reply(req, resp, status);
}

/* retry_after: the seconds in a 54Q05 hint "Retry after N seconds.", or 1. */
static int
retry_after(const struct db_error *err)
{
	int n;

	if (strcmp(err->sqlstate, "54Q05") == 0 &&
		sscanf(err->hint, "Retry after %d", &n) == 1 && n > 0)
		return n;
	return 1;
}

/*
 * reply_error_full: the error reply, with an Allow header when allow is
 * not NULL (405).
 */
static int
reply_error_full(struct request *req, int status, const struct db_error *err,
				 const char *allow)
{
	json_t				*inner, *outer;
	char				*text;
	char				 hint[256];
	struct MHD_Response *resp;
	int					 rc;

	snprintf(req->error_code, sizeof(req->error_code), "%s", err->sqlstate);
	if (status >= 500 && status != 503 && status != 504 && status != 502)
	{
		/* The client learns only that it failed and how to quote it. */
		log_error("request %s (%s %s): %s %s%s%s%s%s", req->id, req->method,
				  req->path ? req->path : "", err->sqlstate, err->message,
				  err->detail[0] ? " DETAIL: " : "", err->detail,
				  err->hint[0] ? " HINT: " : "", err->hint);
		snprintf(hint, sizeof(hint),
				 "Quote request id %s to the operator; the server log has the "
				 "details.",
				 req->id);
		inner = json_pack("{s:s, s:s, s:n, s:s, s:s}", "code", "XX000",
						  "message", "internal server error", "detail", "hint",
						  hint, "request_id", req->id);
	}
	else
	{
		inner =
			json_pack("{s:s, s:s%, s:s%, s:s%, s:s}", "code", err->sqlstate,
					  "message", err->message, strlen(err->message), "detail",
					  err->detail, strlen(err->detail), "hint", err->hint,
					  strlen(err->hint), "request_id", req->id);
		if (inner == NULL) /* not UTF-8 (a name cut mid-character) */
			inner = json_pack("{s:s, s:s, s:n, s:n, s:s}", "code",
							  err->sqlstate, "message", "invalid request",
							  "detail", "hint", "request_id", req->id);
		else if (err->detail[0] == '\0')
			json_object_set_new(inner, "detail", json_null());
		if (inner != NULL && err->hint[0] == '\0')
			json_object_set_new(inner, "hint", json_null());
	}
	outer = json_pack("{s:o}", "error", inner);
	text = outer ? json_dumps(outer, JSON_COMPACT) : NULL;
	json_decref(outer);
	if (text == NULL)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text,
										   MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
	{
		free(text);
		return MHD_NO;
	}
	req->bytes = strlen(text);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
							"application/json");
	if (status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
								request_bearer(req) != NULL
									? "Bearer error=\"invalid_token\""
									: "Bearer");
	else if (status == 403 && req->route != NULL &&
			 req->route->auth == AUTH_ADMIN)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
								"Bearer error=\"insufficient_scope\"");
	if (allow != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	if (status == 503 ||
		(status == 429 && strcmp(err->sqlstate, "54Q05") == 0))
	{
		char secs[16];

		snprintf(secs, sizeof(secs), "%d", retry_after(err));
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
	}
	rc = reply(req, resp, status);
	return rc;
}

int
reply_error_status(struct request *req, int status, const struct db_error *err)
{
	return reply_error_full(req, status, err, NULL);
}

int
reply_error(struct request *req, const struct db_error *err)
{
	return reply_error_status(req, error_status(err->sqlstate), err);
}

int
reply_simple_error(struct request *req, const char *sqlstate,
				   const char *message, const char *detail, const char *hint)
{
	struct db_error err;

	db_error_set(&err, sqlstate, message, detail, hint);
	return reply_error(req, &err);
}

/* --- suspension ---------------------------------------------------------- */

void
request_suspend(struct request *req)
{
	req->state = REQ_WAITING;
	MHD_suspend_connection(req->conn);
}

void
request_resume(struct request *req)
{
	req->state = REQ_RESUMED;
	MHD_resume_connection(req->conn);
}

/* --- the MHD callbacks ---------------------------------------------------- */

/*
 * on_uri: the first callback of a request, with the raw request target:
 * makes the request's state (MHD's con_cls from here on).
 */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct request *req = calloc(1, sizeof(struct request));
	const char	   *q;

	(void) cls;
	if (req == NULL)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &req->start);
	req->conn = conn;
	req->target = strdup(uri);
	if (req->target == NULL)
	{
		free(req);
		return NULL;
	}
	q = strchr(req->target, '?');
	req->path = q ? strndup(req->target, (size_t) (q - req->target))
				  : strdup(req->target);
	req->query = q ? q + 1 : "";
	snprintf(req->id, sizeof(req->id), "%016llx", rng_next());
	req->status = 0;
	__atomic_add_fetch(&active_requests, 1, __ATOMIC_RELAXED);
	return req;
}

/* log_safe: a copy of s fit for a log line (controls and 8-bit as '?'). */
static void
log_safe(char *dst, size_t len, const char *s)
{
	size_t i = 0;

	for (; s != NULL && *s && i + 1 < len; s++)
		dst[i++] = ((unsigned char) *s < 0x20 || (unsigned char) *s >= 0x7f)
					   ? '?'
					   : *s;
	dst[i] = '\0';
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request				   *req = *con_cls;
	struct access_entry				e;
	struct timespec					now;
	char							path[512];
	char							method[32];
	char							remote[INET6_ADDRSTRLEN] = "";
	const union MHD_ConnectionInfo *ci;

	(void) cls;
	if (req == NULL)
		return;
	*con_cls = NULL;
	dispatch_forget(req);
	clock_gettime(CLOCK_MONOTONIC, &now);
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci != NULL && ci->client_addr != NULL)
	{
		const struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr,
					  remote, sizeof(remote));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr,
					  remote, sizeof(remote));
	}
	if (req->status == 0)
		req->status = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? 200 : 499;
	log_safe(path, sizeof(path), req->path);
	e.request_id = req->id;
	log_safe(method, sizeof(method), req->method);
	e.method = method;
	e.path = path;
	e.route = req->route ? route_name(req->route) : "unmatched";
	e.user_id = req->user_id;
	e.remote = remote;
	e.status = req->status;
	e.bytes = req->bytes;
	e.duration_ms = (double) (now.tv_sec - req->start.tv_sec) * 1e3 +
					(double) (now.tv_nsec - req->start.tv_nsec) / 1e6;
	e.error_code = req->error_code[0] ? req->error_code : NULL;
	log_access(&e);
	metrics_request(req->route, req->status, e.duration_ms / 1e3);

	if (req->handler_free != NULL)
		req->handler_free(req->handler_state);
	route_match_free(&req->match);
	free(req->body);
	free(req->path);
	free(req->target);
	free(req);
	__atomic_sub_fetch(&active_requests, 1, __ATOMIC_RELEASE);
}

/*
 * body_limit: the largest body the route takes, in bytes.
 */
static size_t
body_limit(const struct route *r)
{
	if (r->flags & ROUTE_UPLOAD)
		return (size_t) config.max_upload_mb * 1024 * 1024;
	if (r->flags & ROUTE_RAW)
		return (size_t) config.max_invoke_kb * 1024;
	if (r->flags & ROUTE_ENVELOPE)
		/* the body as base64 (4/3) inside JSON, with room for the rest */
		return (size_t) config.max_invoke_kb * 1024 / 3 * 4 + 65536;
	return (size_t) config.max_body_kb * 1024;
}

static int
reply_too_large(struct request *req)
{
	char detail[128];

	snprintf(detail, sizeof(detail), "This route takes at most %zu bytes.",
			 req->body_limit);
	if (req->route->flags & ROUTE_UPLOAD)
		return reply_simple_error(req, "54Q03", "archive too large", detail,
								  "Deploy less, or ask for a larger tier.");
	return reply_simple_error(req, "54000", "request body too large", detail,
							  NULL);
}

static enum MHD_Result
count_content_length(void *cls, enum MHD_ValueKind kind, const char *key,
					 const char *value)
{
	(void) kind;
	(void) value;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		(*(int *) cls)++;
	return MHD_YES;
}

/* start_request: routing and limits, once the headers are in. */
static int
start_request(struct request *req, const char *method)
{
	char		allow[128];
	const char *cl;
	const char *rid;
	int			rc;

	req->method = method;
	rid = request_header(req, "X-Request-Id");
	if (rid != NULL && request_id_acceptable(rid))
		snprintf(req->id, sizeof(req->id), "%s", rid);
	{
		int ncl = 0;

		MHD_get_connection_values(req->conn, MHD_HEADER_KIND,
								  count_content_length, &ncl);
		if (ncl > 1 ||
			(ncl == 1 &&
			 request_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING)))
		{
			/* Framing a proxy may read otherwise (RFC 9112 6.3): refuse,
			 * and close. */
			req->close_after = true;
			return reply_simple_error(req, "22023",
									  "ambiguous message framing",
									  "Send one Content-Length, or chunked "
									  "Transfer-Encoding alone.",
									  NULL);
		}
	}

	rc = route_find(strcmp(method, "HEAD") == 0 ? "GET" : method, req->path,
					&req->match, allow, sizeof(allow));
	if (rc == 404)
		return reply_simple_error(req, "P0002", "no such route", NULL,
								  "See /api/openapi.json for the routes.");
	if (rc == 400)
		return reply_simple_error(req, "22P02", "invalid path",
								  "A path segment has a bad percent escape.",
								  NULL);
	if (rc == 405)
	{
		struct db_error err;

		db_error_set(&err, "0A000", "method not allowed", NULL, NULL);
		snprintf(err.detail, sizeof(err.detail), "This path allows %s.",
				 allow);
		return reply_error_full(req, 405, &err, allow);
	}
	req->route = req->match.route;
	req->body_limit = body_limit(req->route);

	cl = request_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL && strtoull(cl, NULL, 10) > req->body_limit)
		return reply_too_large(req);
	if (req->route->flags & ROUTE_UPLOAD)
	{
		rc = deploy_begin(req);
		if (req->state == REQ_ANSWERED)
			return rc;
	}
	req->state = REQ_BODY;
	return MHD_YES;
}

static int
append_body(struct request *req, const char *data, size_t len)
{
	if (req->body_too_large || req->body_len + len > req->body_limit)
	{
		/* Drop the rest; the reply comes when it is all read. */
		req->body_too_large = true;
		return 0;
	}
	if (req->body_len + len + 1 > req->body_cap)
	{
		size_t cap = req->body_cap ? req->body_cap : 4096;
		char  *p;

		while (cap < req->body_len + len + 1)
			cap *= 2;
		p = realloc(req->body, cap);
		if (p == NULL)
			return -1;
		req->body = p;
		req->body_cap = cap;
	}
	memcpy(req->body + req->body_len, data, len);
	req->body_len += len;
	req->body[req->body_len] = '\0';
	return 0;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
		   const char *method, const char *version, const char *upload_data,
		   size_t *upload_data_size, void **con_cls)
{
	struct request *req = *con_cls;
	route_handler	handler;

	(void) cls;
	(void) url;
	(void) version;
	if (req == NULL)
		return MHD_NO;
	req->conn = conn;
	switch (req->state)
	{
		case REQ_NEW:
			return (enum MHD_Result) start_request(req, method);
		case REQ_BODY:
			if (*upload_data_size > 0)
			{
				if (append_body(req, upload_data, *upload_data_size) != 0)
					return MHD_NO;
				*upload_data_size = 0;
				return MHD_YES;
			}
			if (req->body_too_large)
				return (enum MHD_Result) reply_too_large(req);
			break;
		case REQ_RESUMED:
			break;
		case REQ_WAITING:
		case REQ_ANSWERED:
			*upload_data_size = 0;
			return MHD_YES;
	}
	handler = req->route->handler ? req->route->handler : handle_sql;
	return (enum MHD_Result) handler(req);
}

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[1024];

	(void) cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_error("libmicrohttpd: %s", msg);
}

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long  n;

	if (f == NULL)
	{
		log_error("could not open \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
		fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t) n + 1)) != NULL)
	{
		if (fread(buf, 1, (size_t) n, f) != (size_t) n)
		{
			free(buf);
			buf = NULL;
		}
		else
			buf[n] = '\0';
	}
	fclose(f);
	if (buf == NULL)
		log_error("could not read \"%s\"", path);
	return buf;
}

int
server_start(void)
{
	struct sockaddr_storage addr;
	unsigned int			flags = MHD_USE_EPOLL_INTERNAL_THREAD |
						 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
						 MHD_USE_TURBO;
	struct MHD_OptionItem opts[16];
	int					  k = 0;

	memset(&addr, 0, sizeof(addr));
	if (inet_pton(AF_INET, config.listen_address,
				  &((struct sockaddr_in *) &addr)->sin_addr) == 1)
	{
		((struct sockaddr_in *) &addr)->sin_family = AF_INET;
		((struct sockaddr_in *) &addr)->sin_port =
			htons((uint16_t) config.port);
	}
	else if (inet_pton(AF_INET6, config.listen_address,
					   &((struct sockaddr_in6 *) &addr)->sin6_addr) == 1)
	{
		((struct sockaddr_in6 *) &addr)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *) &addr)->sin6_port =
			htons((uint16_t) config.port);
		flags |= MHD_USE_IPv6;
	}
	else
	{
		log_error("invalid listen_address \"%s\" (an IPv4 or IPv6 literal)",
				  config.listen_address);
		return -1;
	}

	opts[k++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER,
										(intptr_t) on_mhd_log, NULL};
	if (config.tls_cert != NULL)
	{
		tls_cert_pem = read_file(config.tls_cert);
		tls_key_pem = read_file(config.tls_key);
		if (tls_cert_pem == NULL || tls_key_pem == NULL)
			return -1;
		flags |= MHD_USE_TLS;
		opts[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
											tls_cert_pem};
		opts[k++] =
			(struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, tls_key_pem};
	}
	opts[k++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &addr};
	opts[k++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE,
										(intptr_t) config.threads, NULL};
	opts[k++] = (struct MHD_OptionItem){
		MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(intptr_t) (config.max_header_kb * 1024 + 16384), NULL};
	opts[k++] =
		(struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
								(intptr_t) config.connection_timeout, NULL};
	opts[k++] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK,
										(intptr_t) on_uri, NULL};
	opts[k++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED,
										(intptr_t) on_completed, NULL};
	opts[k++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

	daemon_handle = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
									 MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (daemon_handle == NULL)
	{
		log_error("could not listen on %s port %d", config.listen_address,
				  config.port);
		return -1;
	}
	return 0;
}

void
server_stop(void)
{
	if (daemon_handle != NULL)
	{
		MHD_socket listen_fd = MHD_quiesce_daemon(daemon_handle);

		dispatch_shutdown();
		/* Let requests in flight and the woken waiters answer (bounded). */
		for (int i = 0;
			 i < (config.statement_timeout + 5000) / 10 &&
			 __atomic_load_n(&active_requests, __ATOMIC_ACQUIRE) > 0;
			 i++)
			usleep(10000);
		MHD_stop_daemon(daemon_handle);
		if (listen_fd != MHD_INVALID_SOCKET)
			close(listen_fd); /* quiesced: MHD leaves it to us */
	}
	daemon_handle = NULL;
	free(tls_cert_pem);
	free(tls_key_pem);
}
