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
  | 'AccessDenied';

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
  'AccessDenied',
];

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
