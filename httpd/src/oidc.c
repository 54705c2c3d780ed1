/*
 * httpd/src/oidc.c
 *	  Admin tokens against the OpenID Connect provider: what jwt.c checks
 *	  locally, plus what needs the provider now and then.
 *
 *	  At start, the discovery document (ISSUER/.well-known/
 *	  openid-configuration) gives jwks_uri and introspection_endpoint; the
 *	  JWKS is fetched and kept under an rwlock.  A JWT whose kid is not
 *	  among the keys makes one thread fetch the JWKS again (fetch_lock;
 *	  others wait and then use what it fetched), at most once per
 *	  jwks_refresh_min; keys already held keep working while the provider
 *	  is down.  A token that is not a JWT is sent to the introspection
 *	  endpoint (RFC 7662, HTTP basic client authentication).
 *
 *	  Verdicts OIDC_OK and OIDC_NO_ADMIN_ROLE are cached by the SHA-256 of
 *	  the token in a set-associative table (CACHE_SETS sets of CACHE_WAYS
 *	  entries, the oldest of a full set evicted), under its own rwlock, so
 *	  that a token seen before costs one hash and one lookup.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <sodium.h>

#include "log.h"
#include "oidc.h"

#define CACHE_SETS	 1024
#define CACHE_WAYS	 4
#define FETCH_MAX	 (1024 * 1024) /* bytes of a provider's answer */
#define URL_MAX		 1024
#define HTTP_TIMEOUT 5L /* seconds, whole request */

struct cache_entry
{
	unsigned char		 hash[crypto_hash_sha256_BYTES];
	time_t				 expires; /* 0: empty */
	uint64_t			 stamp;	  /* insertion order, for eviction */
	enum oidc_result	 result;
	struct oidc_identity id;
};

/* Everything, set by oidc_init; the locks say who may touch what after. */
static struct
{
	/* read-only after oidc_init */
	char		  *issuer;
	char		  *audience;
	char		  *client_id;
	char		  *client_secret;
	char		  *roles_client;
	char		 **role_paths;
	size_t		   n_role_paths;
	int			   jwks_refresh_min;
	int			   introspection_cache;
	int			   skew;
	unsigned char *hs256_secret; /* legacy HS256 tokens; NULL: refused */
	size_t		   hs256_secret_len;

	/* fetch_lock: one fetch at a time, and what it learnt */
	pthread_mutex_t fetch_lock;
	char			jwks_uri[URL_MAX];		/* "" until discovered */
	char			introspection[URL_MAX]; /* "" until discovered */
	time_t			last_fetch;				/* monotonic seconds; 0: never */
	bool			last_fetch_ok;

	/* keys_lock: the keys, and their generation (bumped at each swap) */
	pthread_rwlock_t keys_lock;
	struct jwks		 keys;
	uint64_t		 keys_gen;

	/* cache_lock: the verdict cache */
	pthread_rwlock_t   cache_lock;
	struct cache_entry cache[CACHE_SETS][CACHE_WAYS];
	uint64_t		   cache_stamp;
} oidc = {
	.fetch_lock = PTHREAD_MUTEX_INITIALIZER,
	.keys_lock = PTHREAD_RWLOCK_INITIALIZER,
	.cache_lock = PTHREAD_RWLOCK_INITIALIZER,
};

const char *
oidc_result_name(enum oidc_result r)
{
	switch (r)
	{
		case OIDC_OK:
			return "OIDC_OK";
		case OIDC_INVALID:
			return "OIDC_INVALID";
		case OIDC_NO_ADMIN_ROLE:
			return "OIDC_NO_ADMIN_ROLE";
		case OIDC_UNAVAILABLE:
			return "OIDC_UNAVAILABLE";
	}
	return "OIDC_?";
}

static time_t
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + 1; /* never 0, which means "never" */
}

/* ---------------------------------------------------------------------- */
/* HTTP with libcurl */

struct buf
{
	char  *data;
	size_t len;
	bool   too_big;
};

static size_t
buf_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct buf *b = userdata;
	size_t		n = size * nmemb;
	char	   *grown;

	if (b->len + n > FETCH_MAX)
	{
		b->too_big = true;
		return 0;
	}
	grown = realloc(b->data, b->len + n + 1);
	if (grown == NULL)
		return 0;
	b->data = grown;
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/*
 * http_json: GETs url (or POSTs form, when not NULL, with HTTP basic
 * user:password when user is not NULL) and parses a 200 answer as a
 * JSON object.  Returns the object (the caller releases it), or NULL with
 * err set.
 */
static json_t *
http_json(const char *url, const char *form, const char *user,
		  const char *password, char *err, size_t errlen)
{
	CURL		*curl;
	CURLcode	 rc;
	struct buf	 b = {0};
	long		 status = 0;
	json_t		*obj = NULL;
	json_error_t jerr;

	curl = curl_easy_init();
	if (curl == NULL)
	{
		snprintf(err, errlen, "could not start libcurl");
		return NULL;
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, HTTP_TIMEOUT);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 2L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	if (form != NULL)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form);
	if (user != NULL)
	{
		curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(curl, CURLOPT_USERNAME, user);
		curl_easy_setopt(curl, CURLOPT_PASSWORD, password);
	}
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK)
	{
		snprintf(err, errlen, "could not fetch %s: %s", url,
				 b.too_big ? "answer too long" : curl_easy_strerror(rc));
		goto done;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200)
	{
		snprintf(err, errlen, "could not fetch %s: HTTP status %ld", url,
				 status);
		goto done;
	}
	obj = json_loadb(b.data ? b.data : "", b.len, 0, &jerr);
	if (obj == NULL || !json_is_object(obj))
	{
		snprintf(err, errlen, "answer of %s is not a JSON object", url);
		json_decref(obj);
		obj = NULL;
	}
done:
	free(b.data);
	curl_easy_cleanup(curl);
	return obj;
}

/* ---------------------------------------------------------------------- */
/* Discovery and keys */

static int
copy_url(char *dst, const json_t *doc, const char *name)
{
	const char *v = json_string_value(json_object_get(doc, name));

	if (v == NULL || strlen(v) >= URL_MAX)
		return -1;
	strcpy(dst, v);
	return 0;
}

/*
 * discover: the discovery document into oidc.jwks_uri and
 * oidc.introspection.  Caller holds fetch_lock.  Returns 0 or -1 with err.
 */
static int
discover(char *err, size_t errlen)
{
	char		url[URL_MAX + 64];
	size_t		len = strlen(oidc.issuer);
	json_t	   *doc;
	const char *iss;
	int			ret = -1;

	while (len > 0 && oidc.issuer[len - 1] == '/')
		len--;
	snprintf(url, sizeof(url), "%.*s/.well-known/openid-configuration",
			 (int) len, oidc.issuer);
	doc = http_json(url, NULL, NULL, NULL, err, errlen);
	if (doc == NULL)
		return -1;
	iss = json_string_value(json_object_get(doc, "issuer"));
	if (iss == NULL || strcmp(iss, oidc.issuer) != 0)
	{
		snprintf(err, errlen, "discovery document of %s names issuer %s",
				 oidc.issuer, iss ? iss : "(none)");
		goto done;
	}
	if (copy_url(oidc.jwks_uri, doc, "jwks_uri") != 0)
	{
		snprintf(err, errlen, "discovery document of %s has no jwks_uri",
				 oidc.issuer);
		goto done;
	}
	/* Optional: without it, opaque tokens are refused. */
	if (copy_url(oidc.introspection, doc, "introspection_endpoint") != 0)
		oidc.introspection[0] = '\0';
	ret = 0;
done:
	json_decref(doc);
	return ret;
}

/*
 * fetch_keys: discovery when not done yet, then the JWKS, swapped in
 * under keys_lock.  Caller holds fetch_lock.  Returns 0 or -1 with err
 * (the keys held are then kept).
 */
static int
fetch_keys(char *err, size_t errlen)
{
	json_t	   *doc;
	char	   *text;
	struct jwks fresh;
	struct jwks old;
	int			rc;

	oidc.last_fetch = mono_now();
	oidc.last_fetch_ok = false;
	if (oidc.jwks_uri[0] == '\0' && discover(err, errlen) != 0)
		return -1;
	doc = http_json(oidc.jwks_uri, NULL, NULL, NULL, err, errlen);
	if (doc == NULL)
		return -1;
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (text == NULL)
	{
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = jwks_parse(text, strlen(text), &fresh, err, errlen);
	free(text);
	if (rc != 0)
		return -1;

	pthread_rwlock_wrlock(&oidc.keys_lock);
	old = oidc.keys;
	oidc.keys = fresh;
	oidc.keys_gen++;
	pthread_rwlock_unlock(&oidc.keys_lock);
	jwks_free(&old);
	oidc.last_fetch_ok = true;
	log_info("oidc: %zu signing keys from %s", fresh.n, oidc.jwks_uri);
	return 0;
}

enum refresh
{
	REFRESH_NEW_KEYS, /* the keys changed since seen_gen: verify again */
	REFRESH_TOO_SOON, /* fetched less than jwks_refresh_min ago: no change */
	REFRESH_FAILED	  /* the provider could not be reached */
};

/*
 * refresh_keys: after a token's kid was not among the keys of generation
 * seen_gen.  When another thread swapped the keys meanwhile, nothing is
 * fetched; otherwise the JWKS is fetched unless the last fetch was less
 * than jwks_refresh_min ago.
 */
static enum refresh
refresh_keys(uint64_t seen_gen, char *err, size_t errlen)
{
	enum refresh r;
	uint64_t	 gen;

	pthread_mutex_lock(&oidc.fetch_lock);
	pthread_rwlock_rdlock(&oidc.keys_lock);
	gen = oidc.keys_gen;
	pthread_rwlock_unlock(&oidc.keys_lock);
	if (gen != seen_gen)
		r = REFRESH_NEW_KEYS;
	else if (oidc.last_fetch != 0 &&
			 mono_now() - oidc.last_fetch < oidc.jwks_refresh_min)
	{
		r = oidc.last_fetch_ok ? REFRESH_TOO_SOON : REFRESH_FAILED;
		if (r == REFRESH_FAILED)
			snprintf(err, errlen, "provider %s unreachable at last try",
					 oidc.issuer);
	}
	else if (fetch_keys(err, errlen) == 0)
		r = REFRESH_NEW_KEYS;
	else
	{
		log_error("oidc: %s", err);
		r = REFRESH_FAILED;
	}
	pthread_mutex_unlock(&oidc.fetch_lock);
	return r;
}

/* ---------------------------------------------------------------------- */
/* The verdict cache */

static struct cache_entry *
cache_set(const unsigned char *hash)
{
	uint32_t h;

	memcpy(&h, hash, sizeof(h));
	return oidc.cache[h % CACHE_SETS];
}

/* cache_get: copies a live entry for hash into *result, *id; true if any. */
static bool
cache_get(const unsigned char *hash, time_t now, enum oidc_result *result,
		  struct oidc_identity *id)
{
	struct cache_entry *set = cache_set(hash);
	bool				found = false;
	int					i;

	pthread_rwlock_rdlock(&oidc.cache_lock);
	for (i = 0; i < CACHE_WAYS; i++)
	{
		if (set[i].expires > now &&
			memcmp(set[i].hash, hash, sizeof(set[i].hash)) == 0)
		{
			*result = set[i].result;
			*id = set[i].id;
			found = true;
			break;
		}
	}
	pthread_rwlock_unlock(&oidc.cache_lock);
	return found;
}

/* cache_put: keeps a verdict until expires, in place of the same token, an
 * empty or expired entry, or the oldest of the set. */
static void
cache_put(const unsigned char *hash, time_t now, time_t expires,
		  enum oidc_result result, const struct oidc_identity *id)
{
	struct cache_entry *set = cache_set(hash);
	struct cache_entry *victim = NULL;
	int					i;

	if (expires <= now)
		return;
	pthread_rwlock_wrlock(&oidc.cache_lock);
	for (i = 0; i < CACHE_WAYS; i++)
	{
		if (memcmp(set[i].hash, hash, sizeof(set[i].hash)) == 0 ||
			set[i].expires <= now)
		{
			victim = &set[i];
			break;
		}
		if (victim == NULL || set[i].stamp < victim->stamp)
			victim = &set[i];
	}
	memcpy(victim->hash, hash, sizeof(victim->hash));
	victim->expires = expires;
	victim->stamp = ++oidc.cache_stamp;
	victim->result = result;
	victim->id = *id;
	pthread_rwlock_unlock(&oidc.cache_lock);
}

static void
token_hash(const char *token, unsigned char *hash)
{
	crypto_hash_sha256(hash, (const unsigned char *) token, strlen(token));
}

void
oidc_cache_forget(const char *token)
{
	unsigned char		hash[crypto_hash_sha256_BYTES];
	struct cache_entry *set;
	int					i;

	token_hash(token, hash);
	set = cache_set(hash);
	pthread_rwlock_wrlock(&oidc.cache_lock);
	for (i = 0; i < CACHE_WAYS; i++)
		if (memcmp(set[i].hash, hash, sizeof(set[i].hash)) == 0)
			set[i].expires = 0;
	pthread_rwlock_unlock(&oidc.cache_lock);
}

/* ---------------------------------------------------------------------- */
/* Checks */

/*
 * identity_from: subject, email and roles of a verified payload into
 * *id; the verdict they make (OIDC_INVALID when they do not fit).
 */
static enum oidc_result
identity_from(const json_t *payload, struct oidc_identity *id, char *err,
			  size_t errlen)
{
	const char *sub = json_string_value(json_object_get(payload, "sub"));
	const char *email = json_string_value(json_object_get(payload, "email"));

	memset(id, 0, sizeof(*id));
	if (sub == NULL || sub[0] == '\0' || strlen(sub) >= OIDC_SUBJECT_MAX)
	{
		snprintf(err, errlen, "token without a usable sub");
		return OIDC_INVALID;
	}
	strcpy(id->subject, sub);
	if (email != NULL && strlen(email) < OIDC_EMAIL_MAX)
		strcpy(id->email, email);
	id->roles = jwt_roles(payload, (const char *const *) oidc.role_paths,
						  oidc.n_role_paths, oidc.roles_client);
	if (id->roles == 0)
	{
		snprintf(err, errlen, "token of %s without an admin role", sub);
		return OIDC_NO_ADMIN_ROLE;
	}
	return OIDC_OK;
}

/* check_jwt: a JWT against the keys, fetched again on an unknown kid. */
static enum oidc_result
check_jwt(const char *token, time_t now, const unsigned char *hash,
		  struct oidc_identity *out, char *err, size_t errlen)
{
	struct jwt_expect expect = {oidc.issuer, oidc.audience, oidc.skew};
	struct jwt_claims claims;
	enum jwt_result	  r;
	enum oidc_result  result;
	uint64_t		  gen;
	int				  attempt;

	for (attempt = 0;; attempt++)
	{
		pthread_rwlock_rdlock(&oidc.keys_lock);
		gen = oidc.keys_gen;
		r = jwt_verify(token, &oidc.keys, &expect, now, &claims, err, errlen);
		pthread_rwlock_unlock(&oidc.keys_lock);
		if (r == JWT_BAD_ALG && oidc.hs256_secret != NULL)
			r = jwt_verify_hs256(token, oidc.hs256_secret,
								 oidc.hs256_secret_len, &expect, now, &claims,
								 err, errlen);
		if (r != JWT_UNKNOWN_KID || attempt > 0)
			break;
		switch (refresh_keys(gen, err, errlen))
		{
			case REFRESH_NEW_KEYS:
				continue;
			case REFRESH_TOO_SOON:
				snprintf(err, errlen,
						 "token signed by an unknown key (JWKS fetched "
						 "less than %d s ago)",
						 oidc.jwks_refresh_min);
				return OIDC_INVALID;
			case REFRESH_FAILED:
				return OIDC_UNAVAILABLE;
		}
	}
	if (r != JWT_OK)
		return OIDC_INVALID;
	result = identity_from(claims.payload, out, err, errlen);
	if (result != OIDC_INVALID)
		cache_put(hash, now, claims.exp, result, out);
	jwt_claims_free(&claims);
	return result;
}

/* aud_holds: an "aud" claim (a string or an array of them) holds aud. */
static bool
aud_holds(const json_t *v, const char *aud)
{
	const json_t *e;
	size_t		  i;

	if (json_is_string(v))
		return strcmp(json_string_value(v), aud) == 0;
	json_array_foreach(v, i, e)
	{
		if (json_is_string(e) && strcmp(json_string_value(e), aud) == 0)
			return true;
	}
	return false;
}

/* check_opaque: an opaque token through the introspection endpoint. */
static enum oidc_result
check_opaque(const char *token, time_t now, const unsigned char *hash,
			 struct oidc_identity *out, char *err, size_t errlen)
{
	char			 endpoint[URL_MAX];
	char			*escaped = NULL;
	char			*form = NULL;
	json_t			*answer = NULL;
	const json_t	*v;
	enum oidc_result result = OIDC_UNAVAILABLE;
	time_t			 expires;

	pthread_mutex_lock(&oidc.fetch_lock);
	if (oidc.introspection[0] == '\0' &&
		(oidc.last_fetch == 0 ||
		 mono_now() - oidc.last_fetch >= oidc.jwks_refresh_min))
	{
		if (fetch_keys(err, errlen) != 0)
			log_error("oidc: %s", err);
	}
	strcpy(endpoint, oidc.introspection);
	pthread_mutex_unlock(&oidc.fetch_lock);
	if (endpoint[0] == '\0')
	{
		snprintf(err, errlen, "no introspection endpoint known for %s",
				 oidc.issuer);
		return OIDC_UNAVAILABLE;
	}

	escaped = curl_easy_escape(NULL, token, 0);
	if (escaped == NULL || asprintf(&form, "token=%s", escaped) < 0)
	{
		form = NULL;
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	answer = http_json(endpoint, form, oidc.client_id, oidc.client_secret, err,
					   errlen);
	if (answer == NULL)
		goto done;

	result = OIDC_INVALID;
	if (!json_is_true(json_object_get(answer, "active")))
	{
		snprintf(err, errlen, "token not active");
		goto done;
	}
	v = json_object_get(answer, "iss");
	if (v != NULL &&
		(!json_is_string(v) || strcmp(json_string_value(v), oidc.issuer) != 0))
	{
		snprintf(err, errlen, "token of another issuer");
		goto done;
	}
	v = json_object_get(answer, "aud");
	if (v != NULL && !aud_holds(v, oidc.audience))
	{
		snprintf(err, errlen, "token not for audience %s", oidc.audience);
		goto done;
	}
	expires = now + oidc.introspection_cache;
	v = json_object_get(answer, "exp");
	if (v != NULL)
	{
		time_t exp;

		if (!json_is_number(v))
		{
			snprintf(err, errlen, "exp not a number");
			goto done;
		}
		exp = (time_t) json_number_value(v);
		if (exp <= now - oidc.skew)
		{
			snprintf(err, errlen, "token expired");
			goto done;
		}
		if (exp < expires)
			expires = exp;
	}
	result = identity_from(answer, out, err, errlen);
	if (result != OIDC_INVALID)
		cache_put(hash, now, expires, result, out);
done:
	json_decref(answer);
	free(form);
	curl_free(escaped);
	return result;
}

enum oidc_result
oidc_check(const char *token, time_t now, struct oidc_identity *out, char *err,
		   size_t errlen)
{
	unsigned char	 hash[crypto_hash_sha256_BYTES];
	enum oidc_result result;
	const char		*dot;
	int				 dots = 0;

	memset(out, 0, sizeof(*out));
	if (token == NULL || token[0] == '\0')
	{
		snprintf(err, errlen, "empty token");
		return OIDC_INVALID;
	}
	token_hash(token, hash);
	if (cache_get(hash, now, &result, out))
	{
		if (result != OIDC_OK)
			snprintf(err, errlen, "token of %s without an admin role",
					 out->subject);
		return result;
	}
	for (dot = strchr(token, '.'); dot != NULL; dot = strchr(dot + 1, '.'))
		dots++;
	if (dots == 2)
		return check_jwt(token, now, hash, out, err, errlen);
	if (dots != 0)
	{
		snprintf(err, errlen, "token neither a JWT nor opaque");
		return OIDC_INVALID;
	}
	return check_opaque(token, now, hash, out, err, errlen);
}

/* ---------------------------------------------------------------------- */
/* Start and stop */

int
oidc_init(const struct oidc_config *cfg, char *err, size_t errlen)
{
	size_t i;
	char   ferr[256];

	if (cfg->issuer == NULL || cfg->audience == NULL)
	{
		snprintf(err, errlen, "an issuer and an audience are required");
		return -1;
	}
	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
	{
		snprintf(err, errlen, "could not initialize libsodium or libcurl");
		return -1;
	}
	oidc.issuer = strdup(cfg->issuer);
	oidc.audience = strdup(cfg->audience);
	oidc.client_id = cfg->client_id ? strdup(cfg->client_id) : NULL;
	oidc.client_secret = strdup(cfg->client_secret ? cfg->client_secret : "");
	oidc.roles_client =
		strdup(cfg->roles_client ? cfg->roles_client : cfg->audience);
	oidc.role_paths = calloc(cfg->n_role_paths + 1, sizeof(char *));
	if (oidc.issuer == NULL || oidc.audience == NULL ||
		(cfg->client_id != NULL && oidc.client_id == NULL) ||
		oidc.client_secret == NULL || oidc.roles_client == NULL ||
		oidc.role_paths == NULL)
		goto oom;
	for (i = 0; i < cfg->n_role_paths; i++)
	{
		oidc.role_paths[i] = strdup(cfg->role_paths[i]);
		if (oidc.role_paths[i] == NULL)
			goto oom;
		oidc.n_role_paths++;
	}
	oidc.jwks_refresh_min = cfg->jwks_refresh_min;
	oidc.introspection_cache = cfg->introspection_cache;
	oidc.skew = cfg->skew;
	if (cfg->hs256_secret_len > 0)
	{
		oidc.hs256_secret = malloc(cfg->hs256_secret_len);
		if (oidc.hs256_secret == NULL)
			goto oom;
		memcpy(oidc.hs256_secret, cfg->hs256_secret, cfg->hs256_secret_len);
		oidc.hs256_secret_len = cfg->hs256_secret_len;
	}

	pthread_mutex_lock(&oidc.fetch_lock);
	if (fetch_keys(ferr, sizeof(ferr)) != 0)
		log_error("oidc: %s; fetched again when a token needs it", ferr);
	pthread_mutex_unlock(&oidc.fetch_lock);
	return 0;

oom:
	oidc_shutdown();
	snprintf(err, errlen, "out of memory");
	return -1;
}

void
oidc_shutdown(void)
{
	size_t i;

	jwks_free(&oidc.keys);
	for (i = 0; i < oidc.n_role_paths; i++)
		free(oidc.role_paths[i]);
	free(oidc.role_paths);
	free(oidc.issuer);
	free(oidc.audience);
	free(oidc.client_id);
	free(oidc.client_secret);
	free(oidc.roles_client);
	if (oidc.hs256_secret != NULL)
		sodium_memzero(oidc.hs256_secret, oidc.hs256_secret_len);
	free(oidc.hs256_secret);
	oidc.hs256_secret = NULL;
	oidc.hs256_secret_len = 0;
	oidc.role_paths = NULL;
	oidc.n_role_paths = 0;
	oidc.issuer = oidc.audience = oidc.client_id = NULL;
	oidc.client_secret = oidc.roles_client = NULL;
	oidc.jwks_uri[0] = oidc.introspection[0] = '\0';
	oidc.last_fetch = 0;
	memset(oidc.cache, 0, sizeof(oidc.cache));
	curl_global_cleanup();
}
