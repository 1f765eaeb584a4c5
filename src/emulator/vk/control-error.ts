/** A control endpoint's refusal: the HTTP status and a message naming what was wrong. */
export class ControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
