// Bare JSch client for benchmarks/bench_libraries.py: the same calls as the Python clients
// (connect + auth + `uptime` + close, or `uptime` over one reused session per thread),
// against the same sshd. Debian's libjsch-java (JSch 0.1.55), run with the JRE's single-file
// source launcher, nothing fetched:
//   java -cp /usr/share/java/jsch.jar benchmarks/JschBench.java \
//       HOST PORT USER KEYFILE KNOWN_HOSTS MODE(connect|reused) CALLS_PER_THREAD THREADS
// Prints one JSON line: per-call latencies, per-call auth times (connect mode: from the
// server's NEWKEYS to "Authentication succeeded", taken from JSch's log on the calling
// thread, where JSch runs the handshake), the process CPU spent in the timed part, wall
// time, failures, and the key exchange negotiated (the first of JSch's list the server offers).
// JSch 0.1.55 knows no ed25519 and no SHA-2 RSA signatures, so it logs in with ECDSA keys.
// SFTP (issue 21): MODE sftp-read|sftp-write with two more arguments, REMOTE and LOCAL: each of
// the THREADS streams copies REMOTE to LOCAL.i (read) or LOCAL.i to REMOTE.i (write) over its
// own session (CALLS_PER_THREAD is 1); the JSON line adds the client->server cipher.

import com.jcraft.jsch.ChannelExec;
import com.jcraft.jsch.ChannelSftp;
import com.jcraft.jsch.JSch;
import com.jcraft.jsch.Logger;
import com.jcraft.jsch.Session;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

public class JschBench {
    static final ThreadLocal<long[]> AUTH = ThreadLocal.withInitial(() -> new long[2]);
    static volatile String serverKex = null;
    static volatile String clientKex = null;
    static volatile String cipher = null;

    static class TimingLogger implements Logger {
        public boolean isEnabled(int level) {
            return level >= Logger.INFO;
        }

        public void log(int level, String message) {
            long now = System.nanoTime();
            if (message.startsWith("SSH_MSG_NEWKEYS received")) {
                AUTH.get()[0] = now;
            } else if (message.startsWith("Authentication succeeded")) {
                AUTH.get()[1] = now;
            } else if (message.startsWith("kex: server: ") && serverKex == null) {
                serverKex = message.substring("kex: server: ".length());
            } else if (message.startsWith("kex: client: ") && clientKex == null) {
                clientKex = message.substring("kex: client: ".length());
            } else if (message.startsWith("kex: client->server ") && cipher == null) {
                cipher = message.substring("kex: client->server ".length()).split(" ")[0];
            }
        }
    }

    static String negotiated() {
        if (serverKex == null || clientKex == null) {
            return null;
        }
        List<String> server = Arrays.asList(serverKex.split(","));
        for (String alg : clientKex.split(",")) {
            if (server.contains(alg)) {
                return alg;
            }
        }
        return null;
    }

    static JSch client(String keyFile, String knownHosts) throws Exception {
        JSch jsch = new JSch();
        jsch.addIdentity(keyFile);
        jsch.setKnownHosts(knownHosts);
        return jsch;
    }

    static Session open(JSch jsch, String host, int port, String user) throws Exception {
        Session s = jsch.getSession(user, host, port);
        s.setConfig("StrictHostKeyChecking", "yes");
        s.setConfig("PreferredAuthentications", "publickey");
        s.setConfig("server_host_key", "ecdsa-sha2-nistp256");
        s.connect(10000);
        return s;
    }

    static String uptime(Session s) throws Exception {
        ChannelExec ch = (ChannelExec) s.openChannel("exec");
        ch.setCommand("uptime");
        InputStream in = ch.getInputStream();
        ch.connect(10000);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[8192];
        int n;
        while ((n = in.read(buf)) >= 0) {
            out.write(buf, 0, n);
        }
        ch.disconnect();
        String text = out.toString("UTF-8");
        if (!text.contains("load average")) {
            throw new IllegalStateException("unexpected output: " + text);
        }
        return text;
    }

    static void sftp(Session s, String mode, String remote, String local, int i) throws Exception {
        ChannelSftp ch = (ChannelSftp) s.openChannel("sftp");
        ch.connect(10000);
        try {
            if (mode.equals("sftp-read")) {
                ch.get(remote, local + "." + i);
            } else {
                ch.put(local + "." + i, remote + "." + i);
            }
        } finally {
            ch.disconnect();
        }
    }

    public static void main(String[] args) throws Exception {
        final boolean files = args.length == 10 && args[5].startsWith("sftp-");
        if (args.length != 8 && !files) {
            System.err.println("usage: JschBench HOST PORT USER KEYFILE KNOWN_HOSTS "
                    + "connect|reused CALLS_PER_THREAD THREADS");
            System.exit(2);
        }
        final String host = args[0];
        final int port = Integer.parseInt(args[1]);
        final String user = args[2];
        final String mode = args[5];
        final int calls = Integer.parseInt(args[6]);
        final int threads = Integer.parseInt(args[7]);
        final String keyFile = args[3];
        final String knownHosts = args[4];
        final String remotePath = files ? args[8] : null;
        final String localPath = files ? args[9] : null;
        JSch.setLogger(new TimingLogger());
        // one untimed call first: class loading and the JIT's first pass stay out of the numbers
        Session warm = open(client(keyFile, knownHosts), host, port, user);
        uptime(warm);
        warm.disconnect();

        final List<Double> latencies = Collections.synchronizedList(new ArrayList<>());
        final List<Double> auths = Collections.synchronizedList(new ArrayList<>());
        final int[] failures = new int[1];
        final List<String> errors = Collections.synchronizedList(new ArrayList<>());
        com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean)
                        ManagementFactory.getOperatingSystemMXBean();
        long cpu0 = os.getProcessCpuTime();
        long wall0 = System.nanoTime();
        List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            Thread w = new Thread(() -> {
                Session reused = null;
                try {
                    if (mode.equals("reused")) {
                        reused = open(client(keyFile, knownHosts), host, port, user);
                    }
                    if (files) {
                        long t0 = System.nanoTime();
                        Session s = open(client(keyFile, knownHosts), host, port, user);
                        sftp(s, mode, remotePath, localPath, Integer.parseInt(
                                Thread.currentThread().getName().replace("stream-", "")));
                        s.disconnect();
                        latencies.add((System.nanoTime() - t0) / 1e6);
                        return;
                    }
                    for (int i = 0; i < calls; i++) {
                        long t0 = System.nanoTime();
                        try {
                            if (reused != null) {
                                uptime(reused);
                            } else {
                                long[] a = AUTH.get();
                                a[0] = 0;
                                a[1] = 0;
                                // the key is loaded per call, as the API's Python
                                // backends load the stored key per request; a JSch reused
                                // across logins also failed some of them with 0.1.55
                                Session s = open(client(keyFile, knownHosts), host, port, user);
                                uptime(s);
                                s.disconnect();
                                if (a[0] > 0 && a[1] > a[0]) {
                                    auths.add((a[1] - a[0]) / 1e6);
                                }
                            }
                            latencies.add((System.nanoTime() - t0) / 1e6);
                        } catch (Exception e) {
                            synchronized (failures) {
                                failures[0]++;
                            }
                            errors.add(e.toString());
                        }
                    }
                } catch (Exception e) {
                    synchronized (failures) {
                        failures[0] += calls;
                    }
                    errors.add(e.toString());
                } finally {
                    if (reused != null) {
                        reused.disconnect();
                    }
                }
            }, "stream-" + t);
            workers.add(w);
            w.start();
        }
        for (Thread w : workers) {
            w.join();
        }
        double wall = (System.nanoTime() - wall0) / 1e9;
        double cpuMs = (os.getProcessCpuTime() - cpu0) / 1e6;
        StringBuilder sb = new StringBuilder();
        sb.append("{\"client\": \"jsch\", \"version\": \"").append(JSch.VERSION).append("\"");
        sb.append(", \"mode\": \"").append(mode).append("\", \"threads\": ").append(threads);
        sb.append(", \"latencies_ms\": ").append(latencies);
        sb.append(", \"auth_ms\": ").append(auths);
        sb.append(", \"cpu_ms\": ").append(cpuMs).append(", \"wall_s\": ").append(wall);
        sb.append(", \"failures\": ").append(failures[0]);
        String kex = negotiated();
        sb.append(", \"kex\": ").append(kex == null ? "null" : "\"" + kex + "\"");
        sb.append(", \"cipher\": ").append(cipher == null ? "null" : "\"" + cipher + "\"");
        sb.append(", \"first_error\": ");
        sb.append(errors.isEmpty() ? "null" : "\"" + errors.get(0).replace("\"", "'") + "\"");
        sb.append("}");
        System.out.println(sb);
    }
}
