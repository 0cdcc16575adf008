// Placeholder: the identity issue (#4) replaces this with jose-based verification.
import type { UserInfo } from "./protocol.ts";

export interface AuthGoogleConfig {
  clientId?: string;
}
export interface AuthMicrosoftConfig {
  tenantId: string;
  clientId?: string;
}
export interface AuthCustomConfig {
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  decodeOnly?: boolean;
  provider?: string;
}
export interface AuthOptions {
  google?: AuthGoogleConfig;
  microsoft?: AuthMicrosoftConfig;
  custom?: AuthCustomConfig;
}
export interface DecodedToken extends UserInfo {
  sub?: string;
  name?: string;
  email?: string;
  provider?: string;
  exp?: number;
  [claim: string]: unknown;
}
export interface CreateTokenAuthOptions {
  tokenFromRequest?: (req: any) => string | null | undefined;
}

export async function decodeAccessToken(_token: string, _options: AuthOptions = {}): Promise<DecodedToken | null> {
  return null;
}
