/**
 * The Jupyter messaging protocol (v5.3) contents this kernel reads and writes: only the fields it uses.
 * Reference: https://jupyter-client.readthedocs.io/en/latest/messaging.html
 */

export const PROTOCOL_VERSION = '5.3';

/** Every message's header; `date` is ISO 8601, `msg_id` unique per message, `session` unique per process. */
export interface Header {
  readonly msg_id: string;
  readonly msg_type: string;
  readonly session: string;
  readonly username: string;
  readonly date: string;
  readonly version: string;
}

/** Fields are optional because the protocol gives them defaults (`silent: false`, `store_history: !silent`, ...). */
export interface ExecuteRequest {
  readonly code: string;
  readonly silent?: boolean;
  readonly store_history?: boolean;
  readonly stop_on_error?: boolean;
}

export interface ErrorContent {
  readonly ename: string;
  readonly evalue: string;
  readonly traceback: readonly string[];
}

/**
 * An execute reply: `aborted` answers requests that were queued behind a failed cell (as ipykernel does);
 * an `error` reply repeats the error content, as the protocol requires.
 */
export type ExecuteReply =
  | { readonly status: 'ok'; readonly execution_count: number; readonly user_expressions: Record<string, never>; readonly payload: readonly [] }
  | ({ readonly status: 'error'; readonly execution_count: number } & ErrorContent)
  | { readonly status: 'aborted'; readonly execution_count: number };

/** The content of `display_data`, `update_display_data` and (with `execution_count`) `execute_result`. */
export interface DisplayContent {
  readonly data: Readonly<Record<string, unknown>>;
  readonly metadata: Readonly<Record<string, unknown>>;
  /** Not saved in the notebook; `display_id` names an output that a later `update_display_data` replaces. */
  readonly transient: { readonly display_id?: string };
}

export type HistoryAccess = 'range' | 'tail' | 'search';

export interface HistoryRequest {
  readonly output: boolean;
  readonly raw: boolean;
  readonly hist_access_type: HistoryAccess;
  readonly session?: number;
  readonly start?: number;
  readonly stop?: number;
  readonly n?: number;
  readonly pattern?: string;
  readonly unique?: boolean;
}

/** `(session, line, input)` or, when output was asked for, `(session, line, [input, output])`. */
export type HistoryEntry = readonly [number, number, string | readonly [string, string | null]];
