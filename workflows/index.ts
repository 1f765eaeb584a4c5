export { helloWorkflow } from './hello';
