/* A subscriber in C with libzmq: prints each prediction's JSON payload on its own line.
 *
 *   sudo apt install libzmq3-dev pkg-config
 *   cc -O2 -o subscriber examples/subscriber.c $(pkg-config --cflags --libs libzmq)
 *   ./subscriber [ENDPOINT [COUNT [TIMEOUT_MS]]]
 *
 * ENDPOINT defaults to ipc:///run/edged/predictions.sock; COUNT 0 (the default) never stops;
 * TIMEOUT_MS (default: wait forever) ends with exit code 1 when no message arrives in time.
 * Messages are [topic, JSON payload, ...]; the SUB filter is a prefix, so the topic frame is
 * compared whole (edged.predictions.mask also starts with edged.predictions).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define TOPIC "edged.predictions"

/* receive one frame into msg; returns its size, or -1 */
static int recv_frame(void *sock, zmq_msg_t *msg) {
    zmq_msg_init(msg);
    int n = zmq_msg_recv(msg, sock, 0);
    if (n < 0)
        zmq_msg_close(msg);
    return n;
}

static int more(void *sock) {
    int value = 0;
    size_t size = sizeof value;
    zmq_getsockopt(sock, ZMQ_RCVMORE, &value, &size);
    return value;
}

int main(int argc, char **argv) {
    const char *endpoint = argc > 1 ? argv[1] : "ipc:///run/edged/predictions.sock";
    long count = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
    int timeout_ms = argc > 3 ? (int)strtol(argv[3], NULL, 10) : -1;

    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_SUB);
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock, ZMQ_SUBSCRIBE, TOPIC, strlen(TOPIC));
    zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    if (zmq_connect(sock, endpoint) != 0) {
        fprintf(stderr, "connect %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
        return 2;
    }
    int status = 0;
    for (long seen = 0; count == 0 || seen < count;) {
        zmq_msg_t topic, payload;
        if (recv_frame(sock, &topic) < 0) {
            fprintf(stderr, "receive: %s\n", zmq_strerror(zmq_errno()));
            status = 1;
            break;
        }
        int exact = zmq_msg_size(&topic) == strlen(TOPIC)
                    && memcmp(zmq_msg_data(&topic), TOPIC, strlen(TOPIC)) == 0;
        zmq_msg_close(&topic);
        int have_payload = more(sock) && recv_frame(sock, &payload) >= 0;
        if (have_payload && exact) {
            fwrite(zmq_msg_data(&payload), 1, zmq_msg_size(&payload), stdout);
            fputc('\n', stdout);
            fflush(stdout);
            seen++;
        }
        if (have_payload)
            zmq_msg_close(&payload);
        while (more(sock)) { /* frames this subscriber does not use */
            zmq_msg_t rest;
            if (recv_frame(sock, &rest) < 0)
                break;
            zmq_msg_close(&rest);
        }
    }
    zmq_close(sock);
    zmq_ctx_term(ctx);
    return status;
}
