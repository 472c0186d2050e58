// What the AWS layer hands to the pure sync code: one version of one secret.
export interface SourceSecret {
  /** The id the resource asked for (name or ARN). */
  secretId: string;
  arn?: string;
  versionId: string;
  versionStages?: string[];
  createdDate?: Date;
  secretString?: string;
  secretBinary?: Uint8Array;
}
