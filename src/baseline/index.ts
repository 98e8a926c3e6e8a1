/**
 * The discrete-token (Chameleon) baseline of Transfusion Tab 3, its recorded training session (what `trainRun`
 * runs for `modelKind: 'chameleon'`), and the compute accounting that matches it to Transfusion.
 */
export * from './config';
export * from './codes';
export * from './network';
export * from './chameleon';
export * from './session';
export * from './flops';
