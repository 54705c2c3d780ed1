"""worker/runtimes/python/cpub_shim.py: the Python runtime's shim.

Runs in a function's container as

    python3 -u /cpub/cpub_shim.py [SOCKET]

with the function's folder (/fn) as the working directory.  It imports the
module ``main`` from there and serves requests one at a time on a unix
socket (SOCKET, else $CPUB_SOCKET, else /run/cpub/fn.sock), speaking the
frames of docs/shim-protocol.md, exactly as worker/src/frame.c does, with the
same caps (CPUB_MAX_HEADERS, CPUB_MAX_HEADER_BYTES, CPUB_MAX_BODY,
CPUB_MAX_LOGS).  Standard library only (Python 3.11).

For each request it calls ``main.handle(request)``:

- ``request`` has ``method``, ``path``, ``query`` (the raw query string),
  ``headers`` (lower-case name -> value, repeated headers joined with
  ", "), ``header_list`` (every (name, value) in order), ``body`` (bytes),
  ``text`` (the body decoded as UTF-8, bad bytes replaced) and ``json()``.
- What it returns becomes the response: ``(status, headers, body)`` (headers
  a dict or a list of pairs; body str, bytes, a dict or list as JSON, or
  None), or ``(status, body)``; a dict or a list: 200 application/json; a
  str: 200 text/plain; charset=utf-8; bytes: 200 application/octet-stream;
  None: 204.
- An exception: 500 with the body "internal error", the traceback in the
  logs.

What the function writes to stdout and stderr during a request (print,
logging, os.write on fds 1 and 2, its child processes) is that request's
logs: fds 1 and 2 are a pipe a thread drains, keeping the last CPUB_MAX_LOGS
bytes.  Output between requests (at import, say) goes to the container's
stderr.

If ``main`` cannot be imported (or has no ``handle``), the shim still
listens and answers every request with the reserved header
``x-cpub-error: crash``, the error as the body and the traceback as the logs,
so that callers get a clear failure and developers the reason.
"""

import importlib
import json
import os
import select
import signal
import socket
import stat
import struct
import sys
import threading
import traceback

DEFAULT_SOCKET = "/run/cpub/fn.sock"

# The frames (docs/shim-protocol.md): an 8-byte head, magic "CP", version,
# kind, then the payload's length as a big-endian u32.
MAGIC = b"CP"
VERSION = 1
KIND_REQUEST = 0x51  # 'Q'
KIND_RESPONSE = 0x52  # 'R'
HEAD_SIZE = 8
REQUEST_FIXED = 20
RESPONSE_FIXED = 16
HEADER_FIXED = 8

DEFAULT_LIMITS = {
    "max_headers": 100,
    "max_header_bytes": 64 * 1024,
    "max_body": 6 * 1024 * 1024,
    "max_logs": 256 * 1024,
}

# Below this cap the logs carry no "dropped" line (as capture.c).
MARK_MIN_CAP = 256

TEXT_PLAIN = b"text/plain; charset=utf-8"

_U32 = struct.Struct(">I")
_HEAD = struct.Struct(">2sBBI")

TOKEN_CHARS = frozenset(
    b"!#$%&'*+-.^_`|~0123456789"
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


class FrameError(Exception):
    """A malformed frame; str() is frame.c's phrase for it."""


# frame.c's phrases, by its error names.
ECLOSED = "connection closed"
ETRUNCATED = "connection closed inside a frame"
EMAGIC = "bad magic"
EVERSION = "unsupported protocol version"
EKIND = "unexpected frame kind"
ETOOBIG = "frame length over the limits"
EHEADERS = "too many headers"
EHEADERBYTES = "headers over the size limit"
EBODY = "body over the size limit"
ELOGS = "logs over the size limit"
ESTATUS = "status outside 100 to 599"
EFIELD = "a field runs past the end of the frame"
ETRAILING = "bytes after the end of the frame"


def limits_from_env(environ=os.environ):
    """The caps: the defaults, or CPUB_MAX_* from the environment."""
    limits = dict(DEFAULT_LIMITS)
    for key in limits:
        value = environ.get("CPUB_" + key.upper(), "")
        if value == "":
            continue
        if not value.isdigit() or int(value) > 0xFFFFFFFF:
            raise ValueError(
                "invalid CPUB_%s \"%s\": a whole number of at most %d expected"
                % (key.upper(), value, 0xFFFFFFFF)
            )
        limits[key] = int(value)
    return limits


def max_payload(kind, limits):
    """The largest payload the caps allow for a frame of this kind."""
    n = (
        limits["max_header_bytes"]
        + HEADER_FIXED * limits["max_headers"]
        + limits["max_body"]
    )
    if kind == KIND_REQUEST:
        return n + REQUEST_FIXED
    return n + RESPONSE_FIXED + limits["max_logs"]


def check_head(head, kind, limits):
    """The payload's length from a whole head, or FrameError."""
    magic, version, got_kind, length = _HEAD.unpack(head)
    if magic != MAGIC:
        raise FrameError(EMAGIC)
    if version != VERSION:
        raise FrameError(EVERSION)
    if got_kind != kind:
        raise FrameError(EKIND)
    if length > max_payload(kind, limits):
        raise FrameError(ETOOBIG)
    return length


class _Cursor:
    """Walks a payload: fields are a u32 length and that many bytes."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf):
        self.buf = buf
        self.pos = 0

    def left(self):
        return len(self.buf) - self.pos

    def u32(self):
        if self.left() < 4:
            raise FrameError(EFIELD)
        (v,) = _U32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return v

    def field(self):
        n = self.u32()
        if n > self.left():
            raise FrameError(EFIELD)
        v = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return v


def _decode_headers(c, limits, head_bytes):
    n = c.u32()
    if n > limits["max_headers"]:
        raise FrameError(EHEADERS)
    if n * HEADER_FIXED > c.left():
        raise FrameError(EFIELD)
    headers = []
    for _ in range(n):
        name = c.field()
        value = c.field()
        head_bytes += len(name) + len(value)
        headers.append((name, value))
    if head_bytes > limits["max_header_bytes"]:
        raise FrameError(EHEADERBYTES)
    return headers


def decode_request_payload(payload, limits):
    """(method, path, query, [(name, value)], body), all bytes."""
    c = _Cursor(payload)
    method = c.field()
    path = c.field()
    query = c.field()
    headers = _decode_headers(c, limits, len(method) + len(path) + len(query))
    body = c.field()
    if len(body) > limits["max_body"]:
        raise FrameError(EBODY)
    if c.left() != 0:
        raise FrameError(ETRAILING)
    return method, path, query, headers, body


def decode_response_payload(payload, limits):
    """(status, [(name, value)], logs, body), bytes but the status."""
    c = _Cursor(payload)
    status = c.u32()
    if status < 100 or status > 599:
        raise FrameError(ESTATUS)
    headers = _decode_headers(c, limits, 0)
    logs = c.field()
    if len(logs) > limits["max_logs"]:
        raise FrameError(ELOGS)
    body = c.field()
    if len(body) > limits["max_body"]:
        raise FrameError(EBODY)
    if c.left() != 0:
        raise FrameError(ETRAILING)
    return status, headers, logs, body


def _check_headers(headers, limits, head_bytes):
    if len(headers) > limits["max_headers"]:
        raise FrameError(EHEADERS)
    head_bytes += sum(len(n) + len(v) for n, v in headers)
    if head_bytes > limits["max_header_bytes"]:
        raise FrameError(EHEADERBYTES)


def _frame(kind, parts):
    payload_len = sum(len(p) for p in parts)
    return b"".join([_HEAD.pack(MAGIC, VERSION, kind, payload_len)] + parts)


def _put_headers(parts, headers):
    parts.append(_U32.pack(len(headers)))
    for name, value in headers:
        parts += [_U32.pack(len(name)), name, _U32.pack(len(value)), value]


def encode_request(method, path, query, headers, body, limits):
    """A whole request frame from bytes (headers: [(name, value)])."""
    _check_headers(headers, limits, len(method) + len(path) + len(query))
    if len(body) > limits["max_body"]:
        raise FrameError(EBODY)
    parts = []
    for f in (method, path, query):
        parts += [_U32.pack(len(f)), f]
    _put_headers(parts, headers)
    parts += [_U32.pack(len(body)), body]
    return _frame(KIND_REQUEST, parts)


def encode_response(status, headers, logs, body, limits):
    """A whole response frame (headers: [(name, value)] of bytes)."""
    if not 100 <= status <= 599:
        raise FrameError(ESTATUS)
    _check_headers(headers, limits, 0)
    if len(logs) > limits["max_logs"]:
        raise FrameError(ELOGS)
    if len(body) > limits["max_body"]:
        raise FrameError(EBODY)
    parts = [_U32.pack(status)]
    _put_headers(parts, headers)
    parts += [_U32.pack(len(logs)), logs, _U32.pack(len(body)), body]
    return _frame(KIND_RESPONSE, parts)


def _recv_exact(conn, n, started):
    """n bytes from conn; FrameError(ECLOSED or ETRUNCATED) at EOF."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = conn.recv_into(view[got:])
        if k == 0:
            raise FrameError(ETRUNCATED if started or got else ECLOSED)
        got += k
    return buf


def read_request(conn, limits):
    """The next request's fields from conn, or None when the peer closed
    between requests.  FrameError for anything malformed."""
    try:
        first = _recv_exact(conn, 1, False)
    except FrameError as e:
        if str(e) == ECLOSED:
            return None
        raise
    head = bytes(first) + bytes(_recv_exact(conn, HEAD_SIZE - 1, True))
    length = check_head(head, KIND_REQUEST, limits)
    payload = _recv_exact(conn, length, True) if length else b""
    return decode_request_payload(payload, limits)


class Request:
    """What main.handle receives."""

    __slots__ = ("method", "path", "query", "headers", "header_list", "body")

    def __init__(self, method, path, query, header_list, body):
        self.method = method
        self.path = path
        self.query = query
        self.header_list = header_list
        self.body = body
        headers = {}
        for name, value in header_list:
            key = name.lower()
            headers[key] = headers[key] + ", " + value if key in headers else value
        self.headers = headers

    @property
    def text(self):
        """The body as text (UTF-8, bad bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self):
        """The body parsed as JSON (json.loads; raises on bad JSON)."""
        return json.loads(self.body)

    def __repr__(self):
        return "<Request %s %s%s%s, %d headers, %d bytes>" % (
            self.method,
            self.path,
            "?" if self.query else "",
            self.query,
            len(self.header_list),
            len(self.body),
        )


def _text(b):
    return b.decode("utf-8", "surrogateescape")


def make_request(fields):
    method, path, query, headers, body = fields
    return Request(
        _text(method),
        _text(path),
        _text(query),
        [(_text(n), _text(v)) for n, v in headers],
        body,
    )


class ResponseError(Exception):
    """What handle returned cannot be a response; str() says why."""


def _body_bytes(body):
    """(bytes, default content-type) for a body of a supported type."""
    if body is None:
        return b"", None
    if isinstance(body, str):
        return body.encode("utf-8"), "text/plain; charset=utf-8"
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body), "application/octet-stream"
    if isinstance(body, (dict, list)):
        return json.dumps(body).encode("utf-8"), "application/json"
    raise ResponseError(
        "a body of type %s: str, bytes, dict, list or None expected"
        % type(body).__name__
    )


def _header_bytes(name, value):
    if not isinstance(name, str) or not name:
        raise ResponseError("a header name %r: a non-empty str expected" % (name,))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ResponseError(
            "the value of header %s is a %s: str expected" % (name, type(value).__name__)
        )
    n = name.encode("utf-8", "surrogateescape")
    v = value.encode("utf-8", "surrogateescape")
    if any(c not in TOKEN_CHARS for c in n):
        raise ResponseError("header name %r is not an HTTP token" % name)
    if any((c < 0x20 and c != 0x09) or c == 0x7F for c in v):
        raise ResponseError("the value of header %s has control characters" % name)
    return n, v


def to_response(result, limits):
    """(status, [(name, value)] of bytes, body bytes) from what handle
    returned, within the caps; ResponseError when it cannot be one."""
    if result is None:
        return 204, [], b""
    if isinstance(result, tuple):
        if len(result) == 3:
            status, headers, body = result
        elif len(result) == 2:
            status, body = result
            headers = None
        else:
            raise ResponseError(
                "a tuple of %d items: (status, headers, body) or "
                "(status, body) expected" % len(result)
            )
        if isinstance(status, bool) or not isinstance(status, int):
            raise ResponseError("a status of type %s: int expected" % type(status).__name__)
        if not 100 <= status <= 599:
            raise ResponseError("status %d is not from 100 to 599" % status)
        if headers is None:
            pairs = []
        elif isinstance(headers, dict):
            pairs = list(headers.items())
        elif isinstance(headers, (list, tuple)):
            pairs = list(headers)
        else:
            raise ResponseError(
                "headers of type %s: a dict or a list of pairs expected"
                % type(headers).__name__
            )
        out = []
        for pair in pairs:
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ResponseError("a header %r: a (name, value) pair expected" % (pair,))
            out.append(_header_bytes(pair[0], pair[1]))
        data, ctype = _body_bytes(body)
        if ctype is not None and not any(n.lower() == b"content-type" for n, _ in out):
            out.append((b"content-type", ctype.encode()))
    elif isinstance(result, (dict, list, str, bytes, bytearray, memoryview)):
        status = 200
        data, ctype = _body_bytes(result)
        out = [(b"content-type", ctype.encode())]
    else:
        raise ResponseError(
            "handle returned a %s: a tuple, dict, list, str, bytes or None "
            "expected" % type(result).__name__
        )
    if len(out) > limits["max_headers"]:
        raise ResponseError("too many response headers")
    if sum(len(n) + len(v) for n, v in out) > limits["max_header_bytes"]:
        raise ResponseError("response headers over the size limit")
    if len(data) > limits["max_body"]:
        raise ResponseError(
            "response body over the size limit (%d bytes, at most %d)"
            % (len(data), limits["max_body"])
        )
    return status, out, data


class Capture:
    """fds 1 and 2 into a pipe, drained by a thread: during a request into a
    buffer keeping the last cap bytes, between requests on to the original
    stderr (as worker/shim/capture.c)."""

    def __init__(self, cap, orig_stderr):
        self.cap = cap
        self.out = orig_stderr
        self.lock = threading.Lock()
        self.in_request = False
        self.buf = bytearray()
        self.total = 0
        sys.stdout.flush()
        sys.stderr.flush()
        r, w = os.pipe()
        try:
            # Fewer wake-ups of the thread, and room for a C extension that
            # writes to fd 1 while holding the GIL.
            import fcntl

            fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 1 << 20)
        except (ImportError, AttributeError, OSError):
            pass
        os.set_blocking(r, False)
        os.dup2(w, 1)
        os.dup2(w, 2)
        os.close(w)
        self.r = r
        threading.Thread(target=self._drain_main, name="cpub-logs", daemon=True).start()

    def _drain_locked(self):
        """Reads the pipe until empty; False at EOF."""
        while True:
            try:
                data = os.read(self.r, 1 << 16)
            except BlockingIOError:
                return True
            except InterruptedError:
                continue
            if not data:
                return False
            if self.in_request:
                self.total += len(data)
                self.buf += data
                if len(self.buf) > 2 * self.cap:
                    del self.buf[: len(self.buf) - self.cap]
            else:
                _write_all(self.out, data)

    def _drain_main(self):
        try:
            # Lowest priority, as capture.c: it runs when the handler waits.
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):
            pass
        p = select.poll()
        p.register(self.r, select.POLLIN)
        more = True
        while more:
            p.poll()
            with self.lock:
                more = self._drain_locked()

    def begin(self):
        with self.lock:
            self.buf = bytearray()
            self.total = 0
            self.in_request = True

    def end(self):
        """The request's logs (bytes, at most cap)."""
        for f in (sys.stdout, sys.stderr):
            try:
                f.flush()
            except Exception:  # a handler may have closed or replaced it
                pass
        with self.lock:
            self._drain_locked()
            self.in_request = False
            buf, total = self.buf, self.total
            self.buf = bytearray()
        return tail_with_mark(buf, total, self.cap)


def tail_with_mark(buf, total, cap):
    """At most cap bytes: buf whole, or a line counting the bytes dropped and
    the last bytes (the same bytes as capture.c)."""
    if cap <= 0:
        return b""
    if total <= cap:
        return bytes(buf)
    if cap < MARK_MIN_CAP:
        return bytes(buf[-cap:])
    dropped = total - cap
    while True:
        mark = b"[cpub: %d earlier bytes of output dropped]\n" % dropped
        more = total - (cap - len(mark))
        if more == dropped:
            break
        dropped = more
    return mark + bytes(buf[-(cap - len(mark)) :])


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        except OSError:
            return
        view = view[n:]


class _Stop(BaseException):
    """SIGTERM or SIGINT while idle: stop serving."""


class Shim:
    def __init__(self, socket_path, limits):
        self.socket_path = socket_path
        self.limits = limits
        self.report_fd = 2
        self.capture = None
        self.handle = None
        self.import_error = None  # (message, traceback text)
        self.busy = False
        self.stopping = False

    def report(self, msg):
        _write_all(self.report_fd, ("cpub-shim: %s\n" % msg).encode("utf-8", "replace"))

    def _on_stop(self, signum, frame):
        self.stopping = True
        if not self.busy:
            raise _Stop()

    def load(self, function_dir):
        """Imports main from function_dir; on failure keeps the error."""
        sys.path[0] = function_dir
        try:
            module = importlib.import_module("main")
            handle = getattr(module, "handle", None)
            if not callable(handle):
                raise AttributeError("module main has no function handle(request)")
            self.handle = handle
        except BaseException as e:  # noqa: B036 - SystemExit at import too
            tb = traceback.format_exc()
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            self.import_error = ("could not import main: " + detail, tb)
            self.report("could not import main; every request will fail:\n" + tb.rstrip())

    def respond(self, request):
        """(status, headers, body, logs) for one request."""
        if self.import_error is not None:
            message, tb = self.import_error
            tb = tb.encode("utf-8", "replace")
            headers = [(b"x-cpub-error", b"crash"), (b"content-type", TEXT_PLAIN)]
            logs = tail_with_mark(tb, len(tb), self.limits["max_logs"])
            return 500, headers, message.encode("utf-8", "replace"), logs
        if self.capture is not None:
            self.capture.begin()
        try:
            try:
                result = self.handle(request)
            except BaseException as e:  # noqa: B036 - sys.exit() too: a 500
                # From the function's frames on: the shim's own is noise.
                traceback.print_exception(type(e), e, e.__traceback__.tb_next)
                print("cpub: handle raised an exception: answering 500", file=sys.stderr)
                status, headers, body = 500, [(b"content-type", TEXT_PLAIN)], b"internal error"
            else:
                try:
                    status, headers, body = to_response(result, self.limits)
                except ResponseError as e:
                    print("cpub: %s: answering 500" % e, file=sys.stderr)
                    status, headers, body = 500, [], b""
        finally:
            logs = self.capture.end() if self.capture is not None else b""
        return status, headers, body, logs

    def serve_connection(self, conn):
        while True:
            try:
                fields = read_request(conn, self.limits)
            except FrameError as e:
                self.report("bad request frame: %s; closing the connection" % e)
                return
            except OSError as e:
                self.report("could not read a request: %s; closing the connection" % e)
                return
            if fields is None:
                return
            self.busy = True
            status, headers, body, logs = self.respond(make_request(fields))
            frame = encode_response(status, headers, logs, body, self.limits)
            try:
                conn.sendall(frame)
            except OSError as e:
                self.report("could not send the response: %s" % e)
                return
            finally:
                self.busy = False
            if self.stopping:
                raise _Stop()

    def listen(self):
        try:
            st = os.lstat(self.socket_path)
            if stat.S_ISSOCK(st.st_mode):
                os.unlink(self.socket_path)
        except FileNotFoundError:
            pass
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(self.socket_path)
        os.chmod(self.socket_path, 0o666)
        lsock.listen(16)
        return lsock

    def run(self):
        try:
            lsock = self.listen()
        except OSError as e:
            self.report("could not listen on \"%s\": %s" % (self.socket_path, e))
            return 1
        try:
            while True:
                conn, _ = lsock.accept()
                with conn:
                    self.serve_connection(conn)
        except _Stop:
            pass
        finally:
            lsock.close()
            try:
                os.unlink(self.socket_path)
            except OSError:
                pass
        return 0


DEFAULT_ENV_FILE = "/run/cpub/env"


def load_env(environ=os.environ):
    """The function's environment variables, which the worker writes beside
    the socket (CPUB_ENV_FILE, default /run/cpub/env) as NAME=VALUE entries
    each ending in a NUL byte, so that they never appear on a command line:
    set them, then delete the file.  No file: nothing to do."""
    path = environ.get("CPUB_ENV_FILE") or DEFAULT_ENV_FILE
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return
    for entry in data.split(b"\0"):
        name, eq, value = entry.partition(b"=")
        if eq and name:
            os.environb[name] = value
    try:
        os.unlink(path)
    except OSError as e:
        print("cpub-shim: could not delete %s: %s" % (path, e), file=sys.stderr)


def main(argv):
    if len(argv) > 1 and argv[1] in ("-h", "--help"):
        print(
            "usage: %s [SOCKET]\nServes the module main of the current folder "
            "(main.handle) on a unix socket (default: $CPUB_SOCKET, else %s)."
            % (argv[0], DEFAULT_SOCKET)
        )
        return 0
    if len(argv) > 2:
        print("cpub-shim: usage: %s [SOCKET]" % argv[0], file=sys.stderr)
        return 2
    try:
        limits = limits_from_env()
    except ValueError as e:
        print("cpub-shim: %s" % e, file=sys.stderr)
        return 2
    load_env()
    socket_path = argv[1] if len(argv) == 2 else (os.environ.get("CPUB_SOCKET") or DEFAULT_SOCKET)
    shim = Shim(socket_path, limits)
    signal.signal(signal.SIGTERM, shim._on_stop)
    signal.signal(signal.SIGINT, shim._on_stop)
    try:
        if limits["max_logs"] > 0:
            shim.report_fd = os.dup(2)  # not inherited by children
            shim.capture = Capture(limits["max_logs"], shim.report_fd)
        shim.load(os.getcwd())
        return shim.run()
    except _Stop:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
