/** Messages between the local runtime's function host and its worker threads (structured-clone data only). */

/** What a worker is started with. */
export interface WorkerData {
  /** file: URL of the handler module. */
  readonly handlerFile: string;
}

/** The Lambda context without its functions; the worker rebuilds them. */
export interface SerializedContext {
  readonly functionName: string;
  readonly functionVersion: string;
  readonly invokedFunctionArn: string;
  readonly memoryLimitInMB: string;
  readonly awsRequestId: string;
  readonly logGroupName: string;
  readonly logStreamName: string;
  /** Epoch milliseconds at which the invocation times out. */
  readonly deadline: number;
}

/** An error as it crosses the thread boundary. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

/** Host to worker. */
export type HostToWorker = {
  readonly type: 'invoke';
  readonly id: number;
  readonly event: unknown;
  readonly context: SerializedContext;
};

/** Worker to host. */
export type WorkerToHost =
  | { readonly type: 'ready' }
  | { readonly type: 'init-error'; readonly error: SerializedError }
  | { readonly type: 'result'; readonly id: number; readonly result: unknown }
  | { readonly type: 'error'; readonly id: number; readonly error: SerializedError };
