/** The `user-agent` of every request: the transport's name and version. */
export const userAgent = "etcd-connect/0.1.0";
