"""How the service writes a request to a node and reads the answer (app.storage.wire), decided
without one: the bytes a request becomes, and what each shape of answer reads as. The suite's
node tests prove the same node class against Elasticsearch itself."""

import gzip
import io
import zlib

import pytest

from app.storage.wire import ProtocolError, encode_request, read_response


def answer(*lines: str, body: bytes = b"") -> io.BufferedReader:
    return io.BufferedReader(io.BytesIO("".join(f"{line}\r\n" for line in lines).encode() + b"\r\n"
                                        + body))


# The request


def test_a_request_is_its_line_host_headers_length_and_body_in_one_buffer():
    sent = encode_request("POST", "/jobs/_update/a", "node:9200",
                          {"content-type": "application/json"}, b'{"doc":{}}')
    assert sent == (b"POST /jobs/_update/a HTTP/1.1\r\nHost: node:9200\r\n"
                    b"content-type: application/json\r\nAccept-Encoding: identity\r\n"
                    b"Content-Length: 10\r\n\r\n{\"doc\":{}}")


def test_a_target_the_client_encoded_goes_out_as_it_is():
    sent = encode_request("GET", "/jobs/_doc/a%2Fb?q=x%20y", "node", {}, None)
    assert sent.startswith(b"GET /jobs/_doc/a%2Fb?q=x%20y HTTP/1.1\r\n")


def test_spaces_and_non_ascii_in_a_target_are_percent_encoded():
    sent = encode_request("GET", "/jobs/_doc/a b\u00e9", "node", {}, None)
    assert sent.startswith(b"GET /jobs/_doc/a%20b%C3%A9 HTTP/1.1\r\n")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_a_write_without_a_body_says_its_body_is_empty(method):
    assert b"\r\nContent-Length: 0\r\n" in encode_request(method, "/_refresh", "node", {}, None)


@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE"])
def test_a_read_without_a_body_sends_no_length(method):
    assert b"Content-Length" not in encode_request(method, "/", "node", {}, None)


def test_an_accept_encoding_the_client_asked_for_is_kept():
    sent = encode_request("GET", "/", "node", {"Accept-Encoding": "gzip"}, None)
    assert b"Accept-Encoding: gzip\r\n" in sent and b"identity" not in sent


@pytest.mark.parametrize("name, value", [("x-opaque-id", "a\r\nX-Injected: 1"),
                                         ("x-opaque-id", "a\nb"),
                                         ("x-bad\r\nname", "v"),
                                         ("x:colon", "v")])
def test_a_header_that_would_break_the_requests_lines_is_refused(name, value):
    with pytest.raises(ValueError):
        encode_request("GET", "/", "node", {name: value}, None)


# The answer


def test_an_answer_with_a_length_reads_that_many_bytes_and_keeps_the_connection():
    status, headers, body, keep = read_response(
        answer("HTTP/1.1 200 OK", "content-type: application/json", "content-length: 11",
               body=b'{"ok":true}'), "GET")
    assert (status, body, keep) == (200, b'{"ok":true}', True)
    assert headers["Content-Type"] == "application/json"


def test_an_answer_cut_short_of_its_length_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="after 4 of 11 bytes"):
        read_response(answer("HTTP/1.1 200 OK", "content-length: 11", body=b'{"ok'), "GET")


def test_a_chunked_answer_is_joined_and_its_trailer_read():
    chunks = b"4\r\n{\"ok\r\n7;ext=1\r\n\":true}\r\n0\r\nx-trailer: 1\r\n\r\n"
    status, _, body, keep = read_response(
        answer("HTTP/1.1 200 OK", "transfer-encoding: chunked", body=chunks), "GET")
    assert (status, body, keep) == (200, b'{"ok":true}', True)


def test_a_chunk_cut_short_is_a_protocol_error():
    with pytest.raises(ProtocolError):
        read_response(answer("HTTP/1.1 200 OK", "transfer-encoding: chunked",
                             body=b"a\r\nshort"), "GET")


@pytest.mark.parametrize("encoding, encode", [("gzip", gzip.compress),
                                              ("deflate", zlib.compress),
                                              ("deflate", lambda data: zlib.compress(data)[2:-4])])
def test_a_compressed_answer_is_decoded(encoding, encode):
    data = encode(b'{"ok":true}')
    _, _, body, _ = read_response(answer("HTTP/1.1 200 OK", f"content-encoding: {encoding}",
                                         f"content-length: {len(data)}", body=data), "GET")
    assert body == b'{"ok":true}'


def test_interim_answers_are_skipped():
    stream = io.BufferedReader(io.BytesIO(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}"))
    status, _, body, _ = read_response(stream, "PUT")
    assert (status, body) == (201, b"{}")


@pytest.mark.parametrize("method, status", [("HEAD", 200), ("GET", 204), ("GET", 304)])
def test_answers_without_a_body_read_none_whatever_their_length_says(method, status):
    stream = answer(f"HTTP/1.1 {status} X", "content-length: 120")
    assert read_response(stream, method)[2:] == (b"", True)


@pytest.mark.parametrize("lines, keep", [
    (["HTTP/1.1 200 OK", "connection: close", "content-length: 0"], False),
    (["HTTP/1.0 200 OK", "content-length: 0"], False),
    (["HTTP/1.0 200 OK", "connection: keep-alive", "content-length: 0"], True),
])
def test_the_connection_is_kept_only_when_the_node_keeps_it(lines, keep):
    assert read_response(answer(*lines), "GET")[3] is keep


def test_an_answer_without_length_or_chunks_ends_with_the_connection():
    _, _, body, keep = read_response(answer("HTTP/1.1 200 OK", body=b"all of it"), "GET")
    assert (body, keep) == (b"all of it", False)


def test_repeated_headers_are_joined_and_folded_lines_continue_the_last():
    _, headers, _, _ = read_response(
        answer("HTTP/1.1 200 OK", "warning: 299 one", "warning: 299 two", "x-long: a",
               "  b", "content-length: 0"), "GET")
    assert headers["warning"] == "299 one, 299 two"
    assert headers["x-long"] == "a b"


@pytest.mark.parametrize("stream", [
    io.BytesIO(b""),
    io.BytesIO(b"SSH-2.0-OpenSSH\r\n\r\n"),
    io.BytesIO(b"HTTP/1.1 2xx OK\r\n\r\n"),
    io.BytesIO(b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"),
    io.BytesIO(b"HTTP/1.1 200 OK\r\ncontent-length: many\r\n\r\n"),
    io.BytesIO(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n"),
    io.BytesIO(b"HTTP/1.1 200 OK\r\n" + b"x-h: v\r\n" * 101 + b"\r\n"),
    io.BytesIO(b"HTTP/1.1 200 OK\r\nx-h: " + b"v" * 70000 + b"\r\n\r\n"),
])
def test_what_is_not_an_answer_is_a_protocol_error(stream):
    with pytest.raises(ProtocolError):
        read_response(stream, "GET")
