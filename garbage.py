import socket,time,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR,1); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(5)
s.settimeout(1); end=time.time()+float(sys.argv[2])
while time.time()<end:
    try:
        c,_=s.accept(); c.sendall(sys.argv[3].encode().decode('unicode_escape').encode('latin-1')); time.sleep(0.3); c.close()
    except Exception: pass
