#!/usr/bin/python3
# The notes' client.py, verbatim except that the host, port and message come from the
# command line (python3 client.py [host [port [message]]], default localhost 1234 and
# the notes' message) so that tests can use a free port. Used by
# tests/examples/test_examples.py to check the C server against it.

import socket
import sys

host = sys.argv[1] if len(sys.argv) > 1 else 'localhost'
port = int(sys.argv[2]) if len(sys.argv) > 2 else 1234

client_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server_address = (host, port)
client_socket.connect(server_address)

try:
    message = sys.argv[3].encode() if len(sys.argv) > 3 else b"Este es un mensaje de prueba que estoy enviando al servidor"
    client_socket.sendall(message)
    data = client_socket.recv(1024)

    print(f"\n[+] El servidor nos ha respondido con este mensaje: {data.decode()}")
finally:
    client_socket.close()
