#!/usr/bin/python3
# The notes' server.py, verbatim except that the host and port come from the command
# line (python3 server.py [host [port]], default localhost 1234) so that tests can use
# a free port. Used by tests/examples/test_examples.py to check the C client against it.

import socket
import sys

host = sys.argv[1] if len(sys.argv) > 1 else 'localhost'
port = int(sys.argv[2]) if len(sys.argv) > 2 else 1234

server_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server_address = (host, port)
server_socket.bind(server_address)

# Limitar el número de conexiones
server_socket.listen(1)

while True:
    client_socket, client_address = server_socket.accept()
    data = client_socket.recv(1024)

    print(f"\n[+] Mensaje recibido del cliente: {data.decode()}")
    print(f"[+] Información del cliente que se ha comunicado con nosotros: {client_address}")

    client_socket.sendall("Un saludo, crack\n".encode())
    client_socket.close()
