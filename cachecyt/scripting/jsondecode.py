"""cjson.decode for scripts: JSON text to Python values (lua.py makes Lua
values of them), accepting what Redis's lua-cjson accepts and failing with its
words ("Expected comma or array end but found T_END at character 5").

Pure Python, no imports of the rest of cachecyt.

How it works
  A tokenizer as lua-cjson's: whitespace is skipped, each token remembers where
  it starts; a character that starts no token is an error token ("invalid
  token"), as are bad strings and numbers (with the position where reading
  stopped). Numbers are read as C's strtod reads them (lua-cjson accepts the
  numbers JSON does not: hex, leading zeros, inf, nan, a leading +), so a
  number ends where strtod stops and what follows is the next token. Strings
  are bytes: raw control characters and bytes that are not UTF-8 pass as they
  are; \\u escapes must be valid UTF-16 (a surrogate pair or none). The text
  ends at its first NUL byte, and a NUL among the first two bytes is refused as
  UTF-16/32, as lua-cjson does.
  The parser is iterative (an explicit stack), so 1000 levels of nesting need
  no Python recursion; the 1001st is refused as lua-cjson refuses it."""
import re

NULL = object()                  # JSON null; lua.py turns it into cjson.null
MAX_DEPTH = 1000

(T_OBJ_BEGIN, T_OBJ_END, T_ARR_BEGIN, T_ARR_END, T_STRING, T_NUMBER, T_BOOLEAN, T_NULL,
 T_COLON, T_COMMA, T_END, T_ERROR) = range(12)
NAMES = ('T_OBJ_BEGIN', 'T_OBJ_END', 'T_ARR_BEGIN', 'T_ARR_END', 'T_STRING', 'T_NUMBER',
         'T_BOOLEAN', 'T_NULL', 'T_COLON', 'T_COMMA', 'T_END', 'T_ERROR')
SINGLE = {ord('{'): T_OBJ_BEGIN, ord('}'): T_OBJ_END, ord('['): T_ARR_BEGIN,
          ord(']'): T_ARR_END, ord(':'): T_COLON, ord(','): T_COMMA}
WHITESPACE = re.compile(rb'[ \t\n\r]*')
# what strtod reads: hex, decimal, inf/infinity, nan(...), each with a sign
NUMBER = re.compile(rb'[+-]?(?:0[xX](?:[0-9a-fA-F]+(?:\.[0-9a-fA-F]*)?|\.[0-9a-fA-F]+)'
                    rb'(?:[pP][+-]?[0-9]+)?'
                    rb'|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?'
                    rb'|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?'
                    rb'|[nN][aA][nN](?:\([0-9A-Za-z_]*\))?)')
PLAIN = re.compile(rb'[^"\\]*')
HEX4 = re.compile(rb'[0-9a-fA-F]{4}')
ESCAPES = {ord('"'): b'"', ord('\\'): b'\\', ord('/'): b'/', ord('b'): b'\b',
           ord('f'): b'\f', ord('n'): b'\n', ord('r'): b'\r', ord('t'): b'\t'}
NUMBER_START = frozenset(b'+-0123456789')


class DecodeError(Exception):
    """The text lua-cjson raises (lua.py adds the script position)."""


def _strtod(text: bytes) -> float:
    t = text.lower().lstrip(b'+')
    neg = t.startswith(b'-')
    body = t[1:] if neg else t
    if body.startswith(b'0x'):
        v = float.fromhex(body.decode())
    elif body.startswith(b'nan'):
        v = float('nan')
    else:
        v = float(body)
    return -v if neg else v


def _invalid_number(data: bytes, pos: int) -> bool:
    """inf or nan (any case) at pos: lua-cjson reads them as numbers."""
    return data[pos:pos + 3].lower() in (b'inf', b'nan')


def _string(data: bytes, pos: int):
    """(T_STRING, bytes, end) or (T_ERROR, message, where) from the opening quote."""
    out = []
    p = pos + 1
    n = len(data)
    while True:
        m = PLAIN.match(data, p)
        out.append(m.group())
        p = m.end()
        if p >= n:
            return T_ERROR, 'unexpected end of string', p
        if data[p] == 0x22:                        # the closing quote
            return T_STRING, b''.join(out), p + 1
        esc = data[p + 1] if p + 1 < n else 0
        if esc == 0x75:                            # \uXXXX
            cp, length = _unicode_escape(data, p)
            if cp < 0:
                return T_ERROR, 'invalid unicode escape code', p
            out.append(chr(cp).encode('utf-8'))
            p += length
            continue
        repl = ESCAPES.get(esc)
        if repl is None:
            return T_ERROR, 'invalid escape code', p
        out.append(repl)
        p += 2


def _unicode_escape(data: bytes, p: int):
    """(code point, escape length) of the \\u escape at p, or (-1, 0)."""
    if not HEX4.fullmatch(data, p + 2, p + 6):
        return -1, 0
    cp = int(data[p + 2:p + 6], 16)
    if cp & 0xF800 != 0xD800:
        return cp, 6
    if cp & 0x400 or data[p + 6:p + 8] != b'\\u' or not HEX4.fullmatch(data, p + 8, p + 12):
        return -1, 0
    low = int(data[p + 8:p + 12], 16)
    if low & 0xFC00 != 0xDC00:
        return -1, 0
    return (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000, 12


def _token(data: bytes, pos: int):
    """(type, value, index, next position) of the token at or after pos."""
    pos = WHITESPACE.match(data, pos).end()
    if pos >= len(data):
        return T_END, None, pos, pos
    ch = data[pos]
    t = SINGLE.get(ch)
    if t is not None:
        return t, None, pos, pos + 1
    if ch == 0x22:
        t, v, end = _string(data, pos)
        if t == T_ERROR:
            return T_ERROR, v, end, end
        return T_STRING, v, pos, end
    if ch in NUMBER_START:                         # read as strtod reads it, JSON or not
        m = NUMBER.match(data, pos)
        if m is None:
            return T_ERROR, 'invalid number', pos, pos
        return T_NUMBER, _strtod(m.group()), pos, m.end()
    for word, value, t in ((b'true', True, T_BOOLEAN), (b'false', False, T_BOOLEAN),
                           (b'null', NULL, T_NULL)):
        if data.startswith(word, pos):
            return t, value, pos, pos + len(word)
    if ch in b'iInN' and _invalid_number(data, pos):    # inf, nan
        m = NUMBER.match(data, pos)
        if m is not None:
            return T_NUMBER, _strtod(m.group()), pos, m.end()
        return T_ERROR, 'invalid number', pos, pos
    return T_ERROR, 'invalid token', pos, pos


def _fail(expected: str, t, v, index):
    found = v if t == T_ERROR else NAMES[t]
    raise DecodeError(f"Expected {expected} but found {found} at character {index + 1}")


_ARRAY = object()                # the stack entry of an array (an object's holds its key)


def decode(data: bytes):
    """The Python value of a JSON text (lists, dicts with bytes keys, bytes,
    floats, bools, NULL); DecodeError with lua-cjson's message."""
    if len(data) >= 2 and (data[0] == 0 or data[1] == 0):
        raise DecodeError("JSON parser does not support UTF-16 or UTF-32")
    nul = data.find(b'\0')
    if nul >= 0:
        data = data[:nul]
    stack = []                   # [container, key or _ARRAY]
    t, v, idx, pos = _token(data, 0)
    while True:
        # t starts a value
        if t == T_ARR_BEGIN or t == T_OBJ_BEGIN:
            if len(stack) + 1 > MAX_DEPTH:
                raise DecodeError(f"Found too many nested data structures ({len(stack) + 1}) "
                                  f"at character {pos}")
            container = [] if t == T_ARR_BEGIN else {}
            end = T_ARR_END if t == T_ARR_BEGIN else T_OBJ_END
            t, v, idx, pos = _token(data, pos)
            if t != end:
                if end == T_ARR_END:
                    stack.append([container, _ARRAY])
                else:
                    if t != T_STRING:
                        _fail('object key string', t, v, idx)
                    key = v
                    t, v, idx, pos = _token(data, pos)
                    if t != T_COLON:
                        _fail('colon', t, v, idx)
                    stack.append([container, key])
                    t, v, idx, pos = _token(data, pos)
                continue
            value = container
        elif T_STRING <= t <= T_NULL:
            value = v
        else:
            _fail('value', t, v, idx)
        # a value is complete: into its container, then what follows it
        while True:
            if not stack:
                t, v, idx, pos = _token(data, pos)
                if t != T_END:
                    _fail('the end', t, v, idx)
                return value
            top = stack[-1]
            container, key = top
            t, v, idx, pos = _token(data, pos)
            if key is _ARRAY:
                container.append(value)
                if t == T_ARR_END:
                    stack.pop()
                    value = container
                    continue
                if t != T_COMMA:
                    _fail('comma or array end', t, v, idx)
                t, v, idx, pos = _token(data, pos)
                break
            container[key] = value
            if t == T_OBJ_END:
                stack.pop()
                value = container
                continue
            if t != T_COMMA:
                _fail('comma or object end', t, v, idx)
            t, v, idx, pos = _token(data, pos)
            if t != T_STRING:
                _fail('object key string', t, v, idx)
            top[1] = v
            t, v, idx, pos = _token(data, pos)
            if t != T_COLON:
                _fail('colon', t, v, idx)
            t, v, idx, pos = _token(data, pos)
            break
