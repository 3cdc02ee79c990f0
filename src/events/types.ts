/** Event shapes of SPEC 10. */
export type EventType =
  | 'UserLoggedIn'
  | 'UserLoginFailed'
  | 'UserLoggedOut'
  | 'UserCreated'
  | 'UserUpdated'
  | 'UserDeleted'
  | 'PasswordChanged'
  | 'TokenCreated'
  | 'TokenRevoked'
  | 'AccessDenied'
  /** A session or token ended because the directory changed (SPEC 18), with `reason`. */
  | 'DirectoryRevalidated'
  /** A configuration reload applied (`changed`, `restart_required`), or refused (`problems`). */
  | 'ConfigReloaded'
  | 'ConfigReloadFailed'
  /** Failure events of one client held back from the store and webhooks (failure-limiter.ts). */
  | 'EventsSuppressed';

export const EVENT_TYPES: readonly EventType[] = [
  'UserLoggedIn',
  'UserLoginFailed',
  'UserLoggedOut',
  'UserCreated',
  'UserUpdated',
  'UserDeleted',
  'PasswordChanged',
  'TokenCreated',
  'TokenRevoked',
  'DirectoryRevalidated',
  'ConfigReloaded',
  'ConfigReloadFailed',
  'AccessDenied',
  'EventsSuppressed',
];

/** Why an event did not reach a sink: counted in `portcullis_events_dropped_total`. */
export type DropReason = 'suppressed' | 'webhook_queue_full';

/** Counts one event (by type) that a sink did not get. */
export type DropCounter = (event: string, reason: DropReason) => void;

/** Request context every event carries when a request caused it. */
export interface RequestContext {
  ip: string;
  user_agent: string;
  request_id: string;
}

export interface PortcullisEvent {
  event: EventType;
  time: string;
  username: string;
  [field: string]: unknown;
}
