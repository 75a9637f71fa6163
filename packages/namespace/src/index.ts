// Skeleton: the API of this package lands with its own issue (see the root README).
export {};
