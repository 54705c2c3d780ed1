// tests/oidc/provider.mjs: a real OpenID Connect provider for the tests
//
// ContainerPub's admin API signs admins in through an OpenID Connect provider
// such as Keycloak.  Debian has no Keycloak, so the tests run this instead:
// the certified `oidc-provider` package, listening on 127.0.0.1, configured
// to issue what Keycloak would:
//
//   - client credentials for two confidential clients (the admin CLI, and
//     httpd itself, which introspects opaque tokens);
//   - RS256 JWT access tokens for the resource `urn:containerpub-admin`
//     (audience `containerpub-admin`), OPAQUE access tokens for the resource
//     `urn:containerpub-admin:opaque` (checked with RFC 7662 introspection at
//     /token/introspection), and JWTs for `urn:containerpub-other` (audience
//     `containerpub-other`, for the wrong-audience test);
//   - a test-only grant that issues a token for a NAMED user with CHOSEN
//     roles, placed as Keycloak places them: `realm_access.roles` and
//     `resource_access.<client>.roles`, with `sub`, `email` and
//     `preferred_username`;
//   - test-only key rotation: POST /test/rotate-key adds a new signing key
//     and makes it the current one, the old one still published at /jwks;
//     POST /test/drop-old-keys unpublishes all but the current one;
//   - the device flow (RFC 8628) as Keycloak offers it: a public client
//     besides the two confidential ones, an `interval` in the device
//     authorization response, `slow_down` to a client polling sooner than
//     that, and users who sign in at the provider's own pages (oidc-provider's
//     development login form, any password) with the realm roles
//     OIDC_USER_ROLES gives them.
//
// Usage: node provider.mjs [PORT]   (or OIDC_PORT; 0 or none = a free port)
// Prints "oidc-provider ready on http://127.0.0.1:PORT" once listening and
// exits 0 on SIGTERM or SIGINT.  Everything is in memory; see README.md for
// the environment variables, the clients and curl commands.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';

const env = process.env;
const HOST = '127.0.0.1';
const PORT = Number(process.argv[2] ?? env.OIDC_PORT ?? 0);
const TTL = Number(env.OIDC_TOKEN_TTL ?? 300);            /* seconds */
const AUDIENCE = env.OIDC_AUDIENCE ?? 'containerpub-admin';
const OTHER_AUDIENCE = env.OIDC_OTHER_AUDIENCE ?? 'containerpub-other';
/* the key under resource_access where client roles go (Keycloak: a client id) */
const ROLES_CLIENT = env.OIDC_ROLES_CLIENT ?? AUDIENCE;

const JWT_RESOURCE = env.OIDC_JWT_RESOURCE ?? 'urn:containerpub-admin';
const OPAQUE_RESOURCE = env.OIDC_OPAQUE_RESOURCE ?? 'urn:containerpub-admin:opaque';
const OTHER_RESOURCE = env.OIDC_OTHER_RESOURCE ?? 'urn:containerpub-other';

const TEST_USER_GRANT = 'urn:containerpub:params:oauth:grant-type:test-user';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/* The device flow: offered unless OIDC_DEVICE_FLOW=0; the polling interval
 * it announces, in seconds. */
const DEVICE_FLOW = env.OIDC_DEVICE_FLOW !== '0';
const DEVICE_INTERVAL = Number(env.OIDC_DEVICE_INTERVAL ?? 5);

if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) {
	console.error(`oidc-provider: bad port "${process.argv[2] ?? env.OIDC_PORT}"`);
	process.exit(2);
}
if (!Number.isInteger(TTL) || TTL < 1) {
	console.error(`oidc-provider: bad OIDC_TOKEN_TTL "${env.OIDC_TOKEN_TTL}"`);
	process.exit(2);
}
if (!Number.isInteger(DEVICE_INTERVAL) || DEVICE_INTERVAL < 1) {
	console.error(`oidc-provider: bad OIDC_DEVICE_INTERVAL "${env.OIDC_DEVICE_INTERVAL}"`);
	process.exit(2);
}

/*
 * The resource servers, by resource indicator.  Every access token is for
 * exactly one of them; a token request without `resource` gets JWT_RESOURCE.
 */
const RESOURCES = new Map([
	[JWT_RESOURCE, { audience: AUDIENCE, format: 'jwt' }],
	[OPAQUE_RESOURCE, { audience: AUDIENCE, format: 'opaque' }],
	[OTHER_RESOURCE, { audience: OTHER_AUDIENCE, format: 'jwt' }],
]);

/*
 * The confidential clients.  `roles` are the realm roles of the client's
 * service account (Keycloak: "service-account-<client id>"), which its
 * client credentials tokens carry.
 */
const CLIENTS = [
	{
		client_id: env.OIDC_CLIENT_ID ?? 'cpub-admin-cli',
		client_secret: env.OIDC_CLIENT_SECRET ?? 'cpub-admin-cli-secret',
		roles: words(env.OIDC_CLIENT_ROLES ?? 'full_admin'),
	},
	{
		client_id: env.OIDC_HTTPD_CLIENT_ID ?? 'cpub-httpd',
		client_secret: env.OIDC_HTTPD_CLIENT_SECRET ?? 'cpub-httpd-secret',
		roles: [],
	},
];

/* A public client (no secret), for the device flow alone, as Keycloak's
 * device clients usually are. */
const PUBLIC_CLIENT_ID = env.OIDC_PUBLIC_CLIENT_ID ?? 'cpub-admin-public';

/*
 * The realm roles of the users who sign in at the provider's pages (the
 * device flow): "name=role,role;name=role".  Others have none.
 */
const USER_ROLES = new Map(String(env.OIDC_USER_ROLES ?? 'alice=full_admin;vic=viewer')
	.split(';').filter(Boolean).map((entry) => {
		const [name, roles] = entry.split('=');
		return [name.trim(), words(roles)];
	}));

/* Split "a,b c" into ["a", "b", "c"]. */
function words(s)
{
	return String(s ?? '').split(/[\s,]+/).filter(Boolean);
}

/*
 * A stable Keycloak-like subject (a UUID) for a user name, so that a test can
 * know a user's `sub` ahead of time: the first 16 bytes of
 * SHA-1("containerpub-test:" + name), shaped as a version 5 UUID.
 */
function subjectFor(name)
{
	const h = crypto.createHash('sha1').update(`containerpub-test:${name}`).digest();
	h[6] = (h[6] & 0x0f) | 0x50;
	h[8] = (h[8] & 0x3f) | 0x80;
	const x = h.subarray(0, 16).toString('hex');
	return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/* The Keycloak-shaped claims of a user with these roles. */
function userClaims({ sub, username, email, roles, clientRoles, azp })
{
	const claims = {
		typ: 'Bearer',
		azp,
		sub,
		preferred_username: username,
		email,
		email_verified: true,
		realm_access: { roles },
	};
	if (clientRoles.length > 0) {
		claims.resource_access = { [ROLES_CLIENT]: { roles: clientRoles } };
	}
	return claims;
}

/*
 * Signing keys, the current one first.  All of them are published at /jwks;
 * tokens are signed with the first.
 */
let keySerial = 0;
function newSigningKey()
{
	const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
	keySerial += 1;
	return {
		...privateKey.export({ format: 'jwk' }),
		kid: `cpub-test-${keySerial}-${crypto.randomBytes(4).toString('hex')}`,
		alg: 'RS256',
		use: 'sig',
	};
}
let signingKeys = [newSigningKey()];
const COOKIE_KEY = crypto.randomBytes(32).toString('base64url');

/*
 * One in-memory token store for every provider built (see buildProvider),
 * so that opaque tokens issued before a key rotation stay introspectable:
 * an oidc-provider adapter (the interface its documentation gives) over one
 * Map, rather than the package's own memory adapter, which is not part of
 * its API and differs between versions.  Only tokens land here: the clients
 * are static and nothing makes sessions, grants or device codes.  An entry
 * is gone once it expires (oidc-provider checks `exp` as well).
 */
const tokens = new Map();     /* "<model>:<id>" -> { payload, expires (ms) } */

class TokenStore
{
	constructor(model)
	{
		this.model = model;
	}

	key(id)
	{
		return `${this.model}:${id}`;
	}

	async upsert(id, payload, expiresIn)
	{
		const now = Date.now();
		for (const [k, e] of tokens) {
			if (e.expires <= now) {
				tokens.delete(k);
			}
		}
		tokens.set(this.key(id), {
			payload,
			expires: expiresIn ? now + expiresIn * 1000 : Infinity,
		});
	}

	async find(id)
	{
		const e = tokens.get(this.key(id));
		return e && e.expires > Date.now() ? e.payload : undefined;
	}

	async findByUid(_uid)
	{
		return undefined;
	}

	async findByUserCode(_userCode)
	{
		return undefined;
	}

	async consume(id)
	{
		const e = tokens.get(this.key(id));
		if (e) {
			e.payload.consumed = Math.floor(Date.now() / 1000);
		}
	}

	async destroy(id)
	{
		tokens.delete(this.key(id));
	}

	async revokeByGrantId(grantId)
	{
		for (const [k, e] of tokens) {
			if (e.payload.grantId === grantId) {
				tokens.delete(k);
			}
		}
	}
}

/*
 * Claims to add to a token, by token object: the test-user grant puts them
 * here before saving the token; extraTokenClaims reads them back.
 */
const pendingClaims = new WeakMap();

/*
 * The test-user grant: a token for a named user with chosen roles, without a
 * browser.  Parameters (form-encoded, with the client's credentials):
 *   username      required
 *   roles         realm roles, comma or space separated ("" = none)
 *   client_roles  roles under resource_access.<OIDC_ROLES_CLIENT>
 *   email         default <username>@example.test
 *   sub           default subjectFor(username)
 *   resource      one of RESOURCES (default JWT_RESOURCE)
 *   ttl           lifetime in seconds (default OIDC_TOKEN_TTL)
 *   nbf_offset    seconds from now to put in `nbf` (for not-yet-valid tokens)
 */
async function testUserGrant(ctx)
{
	const { params, client, provider } = ctx.oidc;

	if (!params.username) {
		throw new errors.InvalidRequest('missing required parameter \'username\'');
	}
	const indicator = params.resource ?? JWT_RESOURCE;
	const info = await resourceServerInfo(ctx, indicator, client);
	if (params.ttl !== undefined) {
		const ttl = Number(params.ttl);
		if (!Number.isInteger(ttl) || ttl < 1) {
			throw new errors.InvalidRequest('ttl must be a positive integer');
		}
		info.accessTokenTTL = ttl;
	}

	const sub = params.sub ?? subjectFor(params.username);
	const token = new provider.AccessToken({
		accountId: sub,
		client,
		gty: 'test_user',
	});
	token.resourceServer = new provider.ResourceServer(indicator, info);

	const claims = userClaims({
		sub,
		username: params.username,
		email: params.email ?? `${params.username}@example.test`,
		roles: words(params.roles),
		clientRoles: words(params.client_roles),
		azp: client.clientId,
	});
	if (params.nbf_offset !== undefined) {
		const off = Number(params.nbf_offset);
		if (!Number.isInteger(off)) {
			throw new errors.InvalidRequest('nbf_offset must be an integer');
		}
		claims.nbf = Math.floor(Date.now() / 1000) + off;
	}
	pendingClaims.set(token, claims);

	const value = await token.save();
	ctx.body = {
		access_token: value,
		expires_in: token.expiration,
		token_type: token.tokenType,
	};
}

/* The resource server a resource indicator names, or invalid_target. */
async function resourceServerInfo(_ctx, indicator, _client)
{
	const r = RESOURCES.get(indicator);
	if (!r) {
		throw new errors.InvalidTarget(`unknown resource "${indicator}"`);
	}
	const info = {
		audience: r.audience,
		scope: 'openid profile email',
		accessTokenTTL: TTL,
		accessTokenFormat: r.format,
	};
	if (r.format === 'jwt') {
		info.jwt = { sign: { alg: 'RS256', kid: signingKeys[0].kid } };
	}
	return info;
}

/*
 * The claims a token carries besides the standard ones: a test user's
 * (above), or for client credentials the client's service account's.
 */
async function extraTokenClaims(_ctx, token)
{
	const claims = pendingClaims.get(token);
	if (claims) {
		return claims;
	}
	if (token.kind === 'AccessToken' && token.gty === 'device_code') {
		/* a user who signed in at the provider's pages (accountId: the login) */
		return userClaims({
			sub: subjectFor(token.accountId),
			username: token.accountId,
			email: `${token.accountId}@example.test`,
			roles: USER_ROLES.get(token.accountId) ?? [],
			clientRoles: [],
			azp: token.clientId,
		});
	}
	if (token.kind === 'ClientCredentials') {
		const c = CLIENTS.find((x) => x.client_id === token.clientId);
		const username = `service-account-${token.clientId}`;
		return userClaims({
			sub: subjectFor(username),
			username,
			email: `${username}@example.test`,
			roles: c?.roles ?? [],
			clientRoles: [],
			azp: token.clientId,
		});
	}
	return undefined;
}

/*
 * A provider with the current keys.  Rotation builds a new one (the keystore
 * is fixed at construction); all of them share one token store (adapter),
 * so opaque tokens issued before a rotation stay valid.
 */
function buildProvider(issuer)
{
	const provider = new Provider(issuer, {
		adapter: TokenStore,
		clients: [
			...CLIENTS.map(({ client_id, client_secret }) => ({
				client_id,
				client_secret,
				grant_types: ['client_credentials', TEST_USER_GRANT,
					...(DEVICE_FLOW ? [DEVICE_GRANT] : [])],
				redirect_uris: [],
				response_types: [],
				token_endpoint_auth_method: 'client_secret_basic',
			})),
			...(DEVICE_FLOW ? [{
				client_id: PUBLIC_CLIENT_ID,
				grant_types: [DEVICE_GRANT],
				redirect_uris: [],
				response_types: [],
				token_endpoint_auth_method: 'none',
			}] : []),
		],
		clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
		/* the device flow's login pages set cookies, signed with this key */
		cookies: { keys: [COOKIE_KEY] },
		jwks: { keys: signingKeys },
		features: {
			/* the login and consent pages of the device flow: any login and
			 * password, consent to what is asked */
			devInteractions: { enabled: true },
			deviceFlow: { enabled: DEVICE_FLOW },
			clientCredentials: { enabled: true },
			introspection: { enabled: true },
			revocation: { enabled: true },
			resourceIndicators: {
				enabled: true,
				defaultResource: async (_ctx, _client, oneOf) => oneOf ?? JWT_RESOURCE,
				useGrantedResource: async () => true,
				getResourceServerInfo: resourceServerInfo,
			},
		},
		extraTokenClaims,
		formats: {
			customizers: {
				/* Keycloak's service accounts have their own sub, not the client id */
				jwt: async (_ctx, token, jwt) => {
					if (token.extra?.sub) {
						jwt.payload.sub = token.extra.sub;
					}
				},
			},
		},
		/* the test-user grant's ttl parameter sets the resource's TTL */
		ttl: {
			AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? TTL,
			ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? TTL,
		},
	});
	provider.registerGrantType(TEST_USER_GRANT, testUserGrant, [
		'username', 'roles', 'client_roles', 'email', 'sub', 'resource', 'ttl',
		'nbf_offset',
	]);
	provider.on('server_error', (_ctx, err) => console.error('oidc-provider:', err));
	provider.use(deviceTiming);
	return provider;
}

/*
 * The device flow's timing, as Keycloak's: the interval is announced in the
 * device authorization response, and a poll of a pending device code sooner
 * than the code's interval after the last one (or after the response) is
 * answered slow_down, which adds 5 seconds to that code's interval (RFC
 * 8628 3.5); so is the next pending poll after POST /test/slow-down, to see
 * a client back off.  Counted at GET /test/device.
 */
const devicePolls = new Map();		/* device_code -> { last, interval } */
const deviceStats = { polls: 0, pending: 0, slow_downs: 0 };
let slowDownNext = false;

async function deviceTiming(ctx, next)
{
	await next();
	if (ctx.path === '/device/auth' && ctx.status === 200 && ctx.body?.device_code) {
		ctx.body.interval = DEVICE_INTERVAL;
		devicePolls.set(ctx.body.device_code, { last: Date.now(), interval: DEVICE_INTERVAL });
		return;
	}
	const code = ctx.oidc?.params?.device_code;
	if (ctx.path !== '/token' || ctx.oidc?.params?.grant_type !== DEVICE_GRANT || !code) {
		return;
	}
	deviceStats.polls += 1;
	const poll = devicePolls.get(code);
	if (!poll || ctx.status !== 400 || ctx.body?.error !== 'authorization_pending') {
		return;
	}
	deviceStats.pending += 1;
	const now = Date.now();
	/* a quarter of a second of slack for the client's timers */
	const early = now - poll.last < poll.interval * 1000 - 250;
	if (slowDownNext || early) {
		slowDownNext = false;
		poll.interval += 5;
		deviceStats.slow_downs += 1;
		ctx.body = {
			error: 'slow_down',
			error_description: 'you are polling too quickly and should back off at a reasonable rate',
		};
	}
	poll.last = now;
}

let issuer;
let handler;

/* The test-only routes, answered before the provider sees the request. */
function testRoute(req, res)
{
	const reply = (status, body) => {
		res.writeHead(status, { 'content-type': 'application/json' });
		res.end(`${JSON.stringify(body)}\n`);
	};
	const keys = () => ({
		current: signingKeys[0].kid,
		published: signingKeys.map((k) => k.kid),
	});

	if (req.method === 'GET' && req.url === '/test/keys') {
		reply(200, keys());
	} else if (req.method === 'GET' && req.url === '/test/device') {
		reply(200, deviceStats);
	} else if (req.method === 'POST' && req.url === '/test/slow-down') {
		slowDownNext = true;
		reply(200, deviceStats);
	} else if (req.method === 'POST' && req.url === '/test/rotate-key') {
		signingKeys = [newSigningKey(), ...signingKeys];
		handler = buildProvider(issuer).callback();
		reply(200, keys());
	} else if (req.method === 'POST' && req.url === '/test/drop-old-keys') {
		signingKeys = [signingKeys[0]];
		handler = buildProvider(issuer).callback();
		reply(200, keys());
	} else {
		reply(404, { error: 'not_found' });
	}
}

const server = http.createServer((req, res) => {
	if (req.url.startsWith('/test/')) {
		testRoute(req, res);
	} else {
		handler(req, res);
	}
});

server.on('error', (err) => {
	console.error(`oidc-provider: ${err.message}`);
	process.exit(1);
});

server.listen(PORT, HOST, () => {
	const { port } = server.address();
	issuer = `http://${HOST}:${port}`;
	handler = buildProvider(issuer).callback();
	console.log(`oidc-provider ready on ${issuer}`);
});

function stop()
{
	server.close(() => process.exit(0));
	server.closeAllConnections();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
