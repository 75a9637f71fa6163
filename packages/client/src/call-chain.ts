import type { DescMethod } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";

const paths = new WeakMap<DescMethod, string>();

/** The HTTP/2 `:path` of a method, `/package.Service/Method`, built once per method. */
export function methodPath(method: DescMethod): string {
  let path = paths.get(method);
  if (path === undefined) {
    path = `/${method.parent.typeName}/${method.name}`;
    paths.set(method, path);
  }
  return path;
}

/** Wraps `next` in the interceptors, outermost first, once for every call to come. */
export function applyInterceptors<F>(interceptors: readonly Interceptor[], next: F): F {
  let chain = next;
  for (let i = interceptors.length - 1; i >= 0; i--)
    chain = (interceptors[i] as Interceptor)(chain as never) as F;
  return chain;
}
