/** The discrete-token (Chameleon) baseline of Transfusion Tab 3, and the compute accounting that matches it to Transfusion. */
export * from './config';
export * from './codes';
export * from './network';
export * from './chameleon';
export * from './flops';
